"""Times the unit tier on each backend, one pytest call at a time, and writes the figures to docs/results.

    python scripts/time_unit_tiers.py                      # tensorflow, jax, torch; one process and -n 2
    python scripts/time_unit_tiers.py --backends jax --workers 2

Run it inside the test virtualenv (`.venv-test`, built by scripts/run_tests.sh) on an otherwise idle
machine: each call's wall time, from starting pytest to its exit, goes to
docs/results/unit_tiers.{json,md} with the commit, the machine's core count and the passed/failed counts.
The calls run one after another (backend by backend, each worker count in turn), never two at once.
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def time_call(backend: str, workers: int, junit: pathlib.Path) -> dict:
    """One unit-tier pytest call: its wall seconds and the JUnit counts."""
    # pytest's own script, as run_tests.sh calls it: `python -m pytest` would put the repository on
    # sys.path, and the tests would import keras_mimo from the source instead of the installed wheel.
    command = [str(pathlib.Path(sys.executable).with_name("pytest")), "-q", "-p", "no:cacheprovider", "-m", "not large"]
    command += [f"--junitxml={junit}", "tests"] + (["-n", str(workers)] if workers else [])
    env = {**os.environ, "KERAS_BACKEND": backend}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    return {
        "backend": backend,
        "workers": workers,
        "seconds": round(seconds, 1),
        "exit_code": done.returncode,
        **counts,
    }


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


def markdown(report: dict) -> str:
    lines = [
        "# Unit tier times",
        "",
        f"`python scripts/time_unit_tiers.py` on commit {report['commit']}, {report['date']}, "
        f"{report['cpus']} cores; each pytest call alone, wall seconds from start to exit "
        "(imports and collection included).",
        "",
        "| backend | pytest-xdist workers | seconds | tests | failed | skipped |",
        "|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        failed = run["failures"] + run["errors"]
        workers = run["workers"] or "none (one process)"
        lines.append(
            f"| {run['backend']} | {workers} | {run['seconds']} | {run['tests']} | {failed} | {run['skipped']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 2], help="0: one process")
    parser.add_argument("--output", default=str(RESULTS / "unit_tiers"), help="path without the suffix")
    args = parser.parse_args(argv)
    if any(w < 0 for w in args.workers):
        parser.error(f"--workers must be counts >= 0, got {args.workers}")
    runs = []
    junit = ROOT / ".test-results" / "timed-unit.xml"
    junit.parent.mkdir(exist_ok=True)
    for backend in args.backends:
        for workers in args.workers:
            runs.append(time_call(backend, workers, junit))
            print(json.dumps(runs[-1]), flush=True)
    report = {
        "commit": commit(),
        "date": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "runs": runs,
    }
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(report))
    return 0 if all(run["exit_code"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
