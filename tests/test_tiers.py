"""The two test tiers (tests/conftest.py): which tests a run skips, and the slowest-tests report."""

import pytest

from tests import conftest
from tests.testing import load_module_from_file


slowest_tests = load_module_from_file("slowest_tests", conftest.ROOT / "scripts" / "slowest_tests.py")


class FakeConfig:
    def __init__(self, run_large=False, markexpr="", large_backend=None):
        self.options = {"--run_large": run_large, "markexpr": markexpr, "--large_backend": large_backend}

    def getoption(self, name):
        return self.options[name]


class FakeItem:
    def __init__(self, *markers):
        self.markers = list(markers)
        self.skipped = None

    def iter_markers(self, name):
        return [m for m in self.markers if m.name == name]

    def add_marker(self, marker):
        self.skipped = marker.kwargs["reason"]


def skipped(config, *markers):
    item = FakeItem(*[m.mark for m in markers])
    conftest.pytest_collection_modifyitems(config, [item])
    return item.skipped


OTHER = "jax" if conftest.BACKEND != "jax" else "torch"


def test_the_unit_tier_skips_large_tests_and_runs_the_rest():
    assert "--run_large" in skipped(FakeConfig(), pytest.mark.large)
    assert skipped(FakeConfig(), pytest.mark.parametrize("a", [1])) is None


@pytest.mark.parametrize("config", [FakeConfig(run_large=True), FakeConfig(markexpr="large")])
def test_run_large_or_a_marker_expression_runs_them(config):
    assert skipped(config, pytest.mark.large) is None
    assert skipped(config, pytest.mark.large(backends=(conftest.BACKEND,))) is None


def test_a_large_test_of_another_backend_is_skipped_and_says_which():
    reason = skipped(FakeConfig(run_large=True), pytest.mark.large(backends=(OTHER,)))
    assert OTHER in reason


def test_large_backend_runs_the_backend_independent_large_tests_once():
    here, elsewhere = (
        FakeConfig(run_large=True, large_backend=conftest.BACKEND),
        FakeConfig(run_large=True, large_backend=OTHER),
    )
    assert skipped(here, pytest.mark.large) is None
    assert "--large_backend" in skipped(elsewhere, pytest.mark.large)
    # a test concerning this backend runs whatever --large_backend says
    assert skipped(elsewhere, pytest.mark.large(backends=(conftest.BACKEND,))) is None
    # the backends of a parameter's mark and the function's mark are pooled
    assert skipped(elsewhere, pytest.mark.large, pytest.mark.large(backends=(conftest.BACKEND,))) is None


def test_slowest_tests_reads_junit_files_and_sorts_across_them(tmp_path):
    for name, times in {"unit-jax": [0.5, 3.0], "large-jax": [9.0, 0.1]}.items():
        cases = "".join(f'<testcase classname="m" name="t{i}" time="{t}"/>' for i, t in enumerate(times))
        (tmp_path / f"{name}.xml").write_text(f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>')
    rows = slowest_tests.slowest(sorted(tmp_path.glob("*.xml")), top=3)
    assert [(t, run) for t, run, _ in rows] == [(9.0, "large-jax"), (3.0, "unit-jax"), (0.5, "unit-jax")]


time_unit_tiers = load_module_from_file("time_unit_tiers", conftest.ROOT / "scripts" / "time_unit_tiers.py")


def test_unit_tier_timings_are_written_as_a_table_of_every_call():
    run = {"backend": "jax", "seconds": 127.0, "exit_code": 0, "tests": 1619, "failures": 1, "errors": 1, "skipped": 5}
    report = {
        "commit": "abc1234",
        "date": "2026-12-05",
        "cpus": 2,
        "runs": [{**run, "workers": 0}, {**run, "workers": 2}],
    }
    table = time_unit_tiers.markdown(report)
    assert "commit abc1234" in table and "2 cores" in table
    assert "| jax | none (one process) | 127.0 | 1619 | 2 | 5 |" in table
    assert "| jax | 2 | 127.0 | 1619 | 2 | 5 |" in table


def test_unit_tier_timings_refuse_a_negative_worker_count(capsys):
    with pytest.raises(SystemExit):
        time_unit_tiers.main(["--workers", "-1"])
    assert "--workers must be counts >= 0, got [-1]" in capsys.readouterr().err
