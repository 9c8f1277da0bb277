"""The UCI benchmark end to end on two tiny datasets in the published layout."""

import json
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def uci_module():
    from benchmarks import uci_regression

    return uci_regression


def fake_uci(root, name, rows=60, splits=2, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / name / "data"
    folder.mkdir(parents=True)
    x = rng.normal(size=(rows, 3))
    y = 5.0 + 3.0 * x[:, :1] + rng.normal(size=(rows, 1))
    np.savetxt(folder / "data.txt", np.concatenate([x, y], 1))
    np.savetxt(folder / "index_features.txt", [0, 1, 2], fmt="%d")
    np.savetxt(folder / "index_target.txt", [3], fmt="%d")
    np.savetxt(folder / "n_splits.txt", [splits], fmt="%d")
    for k in range(splits):
        order = rng.permutation(rows)
        np.savetxt(folder / f"index_train_{k}.txt", order[:45], fmt="%d")
        np.savetxt(folder / f"index_test_{k}.txt", order[45:], fmt="%d")


@pytest.mark.large
def test_benchmark_writes_the_table_and_json_and_resumes(tmp_path):
    uci = uci_module()
    data, docs, runs = tmp_path / "uci", tmp_path / "docs", tmp_path / "runs"
    fake_uci(data, "yacht")
    fake_uci(data, "energy", seed=1)
    argv = [
        f"--data_dir={data}",
        "--datasets",
        "yacht",
        "energy",
        "--epochs=3",
        "--patience=2",
        "--hidden=8",
        "--mimo_hidden=16",
        f"--docs_dir={docs}",
        f"--run_dir={runs}",
    ]
    summary = uci.main(argv)
    saved = json.loads((docs / "results" / "uci_regression.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    for name in ("yacht", "energy"):
        assert set(saved[name]) == {"single", "mimo", "deep_ensemble", "single_wide"}
        for variant in saved[name].values():
            assert set(variant) >= {"rmse", "rmse_se", "ll", "ll_se", "splits"} and variant["splits"] == 2
            assert 1 <= variant["mean_epochs"] <= 3 and 0.0 <= variant["coverage_90"] <= 1.0
        assert saved[name]["deep_ensemble"]["forward_passes"] == 5 and saved[name]["mimo"]["forward_passes"] == 1
        # single_wide: one pass of a single MLP as wide as MIMO's (16 hidden units here)
        wide, single = saved[name]["single_wide"], saved[name]["single"]
        assert wide["forward_passes"] == 1 and wide["parameters"] > 1.5 * single["parameters"]
    per_split = [json.loads((runs / f"yacht_{k}_single.json").read_text())["rmse"] for k in range(2)]
    np.testing.assert_allclose(saved["yacht"]["single"]["rmse"], np.mean(per_split))
    np.testing.assert_allclose(saved["yacht"]["single"]["rmse_se"], np.std(per_split, ddof=1) / np.sqrt(2))
    table = (docs / "results" / "uci_regression.md").read_text()
    assert "| yacht | 0.67 +- 0.05 |" in table  # the published MC-dropout column
    # a rerun reuses every finished (dataset, split, variant)
    (runs / "yacht_0_single.json").write_text(
        json.dumps({**json.loads((runs / "yacht_0_single.json").read_text()), "rmse": 123.0})
    )
    assert uci.main(argv)["yacht"]["single"]["rmse"] == pytest.approx((123.0 + per_split[1]) / 2)


def test_a_missing_dataset_names_the_expected_layout(tmp_path):
    uci = uci_module()
    with pytest.raises(FileNotFoundError, match="bostonHousing/data/data.txt"):
        uci.load_split(str(tmp_path), "bostonHousing", 0)


def test_goals_compare_mimo_with_mc_dropout_and_the_deep_ensemble():
    uci = uci_module()
    row = lambda ll, se: {
        "rmse": 1.0,
        "rmse_se": 0.1,
        "ll": ll,
        "ll_se": se,
        "splits": 20,
        "parameters": 10,
        "forward_passes": 1,
    }
    summary = {
        "yacht": {"mimo": row(-1.20, 0.1), "deep_ensemble": row(-1.15, 0.06)},  # MC dropout: -1.25
        "energy": {"mimo": row(-1.30, 0.1), "deep_ensemble": row(-1.15, 0.10)},  # MC dropout: -1.21
        "mydata": {"mimo": row(0.0, 0.1)},
    }
    goals = uci.goals(summary)
    assert goals["yacht"] == {"mimo_ll_at_least_mc_dropout": True, "mimo_ll_within_one_se_of_deep_ensemble": True}
    assert goals["energy"] == {"mimo_ll_at_least_mc_dropout": False, "mimo_ll_within_one_se_of_deep_ensemble": False}
    assert goals["mydata"] == {"mimo_ll_at_least_mc_dropout": None, "mimo_ll_within_one_se_of_deep_ensemble": None}
    table = uci.cost_table(summary)
    assert "| yacht | - | 10 | 10 | - | - / 1 / 1 / - | yes | yes |" in table
    assert "| energy | - | 10 | 10 | - | - / 1 / 1 / - | no | no |" in table


@pytest.mark.large
def test_a_run_of_one_variant_keeps_the_other_variants_results(tmp_path):
    uci = uci_module()
    data, docs, runs = tmp_path / "uci", tmp_path / "docs", tmp_path / "runs"
    fake_uci(data, "yacht")
    (docs / "results").mkdir(parents=True)
    row = lambda v: {
        "rmse": v,
        "rmse_se": 0.1,
        "ll": -v,
        "ll_se": 0.1,
        "splits": 20,
        "parameters": 10,
        "forward_passes": 1,
        "mean_epochs": 5.0,
        "coverage_90": 0.9,
    }
    kept = {"yacht": {"mimo": row(1.0)}, "energy": {"single": row(2.0)}}
    (docs / "results" / "uci_regression.json").write_text(json.dumps(kept))
    argv = [
        f"--data_dir={data}",
        "--datasets",
        "yacht",
        "--variants",
        "single_wide",
        "--epochs=2",
        "--patience=1",
        "--mimo_hidden=8",
        f"--docs_dir={docs}",
        f"--run_dir={runs}",
    ]
    summary = uci.main(argv)
    assert summary["energy"] == kept["energy"] and summary["yacht"]["mimo"] == kept["yacht"]["mimo"]
    assert list(summary["yacht"]) == ["mimo", "single_wide"]  # in VARIANTS order
    table = (docs / "results" / "uci_regression.md").read_text()
    assert "| energy |" in table and "| yacht |" in table
