"""The peer benchmark's table code (CI has no torch-uncertainty; the runs themselves are in docs/results)."""

import pathlib

from benchmarks import peers

ROOT = pathlib.Path(__file__).resolve().parents[2]


def speed_result(ours, theirs, ours_inference, theirs_inference, device="cpu"):
    return {
        "backend": "torch",
        "device": device,
        "depth": 28,
        "width": 10,
        "members": 3,
        "batch_repetitions": 4,
        "rows_per_step": 32,
        "median_seconds": {
            "ours_train": ours,
            "tu_train": theirs,
            "ours_infer": 1.0,
            "tu_infer": 1.0,
            "ours_single_infer": 1.0,
            "tu_single_infer": 1.0,
        },
        "train_step_ratio_ours_over_theirs": ours / theirs,
        "inference_ratio_mimo_over_single": {"keras_mimo": ours_inference, "torch_uncertainty": theirs_inference},
        "parameters": {
            "keras_mimo_mimo": 36510830,
            "torch_uncertainty_mimo": 36502974,
            "keras_mimo_single": 36479194,
            "torch_uncertainty_single": 36479194,
        },
    }


def test_speed_rows_say_whether_each_target_is_met():
    text = peers.tables([speed_result(0.9, 1.0, 1.02, 1.05), speed_result(1.2, 1.0, 1.10, 1.05, "NVIDIA H200")], [])
    rows = [line for line in text.splitlines() if line.startswith("| torch | ")]
    assert rows[1].startswith("| torch | false | NVIDIA H200 | WRN-28-10 M=3 b=4 | 32 |")
    assert rows[0].endswith("| 0.90 | 1.02 | 1.05 | met | met |")
    assert rows[1].endswith("| 1.20 | 1.10 | 1.05 | not met | not met |")
    assert text.count("| WRN-28-10 M=3 | 36,510,830 | 36,502,974 |") == 1  # one parameter row per network


def test_speed_rows_say_whether_the_step_was_compiled():
    compiled = {**speed_result(0.9, 1.0, 1.0, 1.0), "jit_compile": True}
    jax_before_the_flag = {**speed_result(0.9, 1.0, 1.0, 1.0), "backend": "jax"}
    text = peers.tables([compiled, jax_before_the_flag, speed_result(0.9, 1.0, 1.0, 1.0)], [])
    labels = [line.split(" | ")[:2] for line in text.splitlines() if line.startswith(("| torch |", "| jax |"))]
    assert labels == [["| torch", "true"], ["| jax", "true"], ["| torch", "false"]]


def test_quality_and_batching_tables():
    quality = {
        "depth": 10,
        "width": 2,
        "members": 2,
        "batch_repetitions": 2,
        "train_examples": 2000,
        "epochs": 10,
        "test_examples": 2000,
        "backend": "torch",
        "results": {
            name: {
                "accuracy": 0.5,
                "nll": 1.4,
                "ece": 0.05,
                "mean_member_accuracy": 0.45,
                "disagreement": 0.3,
                "train_seconds": 100.0,
            }
            for name in ("keras_mimo", "torch_uncertainty")
        },
    }
    text = peers.tables([], [quality])
    assert "| keras_mimo | 0.5000 | 1.4000 | 0.0500 | 0.4500 | 0.3000 | 100 |" in text
    assert text.count("\n| ") >= len(peers.BATCHING) + 2
    assert "summed over members" in text


def test_documented_peer_commands_parse():
    for argv in (
        ["speed", "--depth", "28", "--width", "10"],
        ["speed", "--jit_compile", "true"],
        ["quality", "--npz_dir", "x", "--epochs", "10"],
        ["report"],
    ):
        peers.parser().parse_args(argv)


def test_jit_compile_flag_reaches_our_model():
    for flag, expected in (("false", False), ("true", True)):
        args = peers.parser().parse_args(["speed", "--jit_compile", flag])
        model = peers._keras_model(10, 1, 10, 2, 2, jit_compile=peers.jit_compile_argument(args.jit_compile))
        assert model.jit_compile is expected
