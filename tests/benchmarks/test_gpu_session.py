"""benchmarks/gpu_session.sh on this CPU: the plumbing of the one GPU command (the full tiny run is slow).

The parts themselves (the studies' profiles, peers speed) have their own
tests; here: a run cut at its deadline keeps and packs what it has, and the
peer timings are skipped, saying so, where torch-uncertainty is missing.
"""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_session.sh"
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the session runs on JAX whatever the suite's backend: test it once"
)


def run_session(tmp_path, npz, **env):
    out, work = tmp_path / "out", tmp_path / "work"
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        GPU_SESSION_TINY="1",
        GPU_SESSION_NPZ=str(npz),
        GPU_SESSION_WORK=str(work),
        OUT=str(out),
        **env,
    )
    done = subprocess.run(["bash", str(SCRIPT), "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with tarfile.open(out / "gpu_session.tar.gz") as tar:
        names = {pathlib.PurePosixPath(n).as_posix().lstrip("./") for n in tar.getnames()}
        status = tar.extractfile("./status.txt").read().decode()
    return out, work, names, status


def test_usage_is_refused_with_a_message():
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr
    done = subprocess.run(["bash", str(SCRIPT), "prepare", "only-one-argument"], capture_output=True, text=True)
    assert done.returncode == 2 and "prepare CIFAR10_NPZ_DIR CIFAR_COMPACT_PY" in done.stderr


@pytest.mark.large(backends=("jax",))
def test_peers_without_torch_uncertainty_are_skipped_and_said(tmp_path, tiny_npz):
    pytest.importorskip("torch")
    try:
        import torch_uncertainty  # noqa: F401

        pytest.skip("torch-uncertainty is installed: the peers part would run")
    except ImportError:
        pass
    out, work, names, status = run_session(tmp_path, tiny_npz, GPU_SESSION_PARTS="peers")
    assert "peers: skipped (torch_uncertainty is not installed)" in status and status.rstrip().endswith("done")
    assert {"status.txt", "environment.json"} <= names
    assert json.loads((work / "environment.json").read_text())["torch_uncertainty"].startswith("missing")
    assert (out / "status.txt").read_text() == status


@pytest.mark.large(backends=("jax",))
def test_a_study_cut_at_the_deadline_is_said_and_its_logs_packed(tmp_path, tiny_npz):
    out, work, names, status = run_session(tmp_path, tiny_npz, GPU_SESSION_PARTS="shift", GPU_SESSION_BUDGET_S="25")
    assert "shift: ended rc=124 (cut at the deadline)" in status
    assert "shift: report rc=" in status and status.rstrip().endswith("done")
    assert "logs/shift.log" in names
    assert not [n for n in names if n.endswith((".keras", ".npz"))]  # models and data caches stay behind
