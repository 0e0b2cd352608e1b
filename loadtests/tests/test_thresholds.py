"""Gates: per-endpoint p95/p99, failure ratio, minimum RPS and server-side queries."""

from __future__ import annotations

import pytest

from loadtests.summary import summary_build
from loadtests.tests.conftest import make_run
from loadtests.thresholds import ThresholdError, thresholds_check, thresholds_load


def write(tmp_path, text):
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return thresholds_load(path)


@pytest.fixture
def summary(tmp_path, description):
    return summary_build(make_run(tmp_path / "run", feed_queries=3), description=description)


def test_it_passes_when_every_limit_holds(tmp_path, summary):
    gate = write(
        tmp_path,
        """
[aggregate]
p95_ms = 60
min_rps = 150
max_failure_ratio = 0

[endpoint."GET /api/feed"]
p95_ms = 80
p99_ms = 120
max_queries = 3
max_mean_queries = 3
""",
    )
    checks = thresholds_check(summary, gate)
    assert len(checks) == 7
    assert all(check.ok for check in checks), [c.line() for c in checks]


@pytest.mark.parametrize(
    ("scope", "key", "limit", "actual"),
    [
        ("aggregate", "p95_ms", 59, 60),
        ("aggregate", "min_rps", 201, 200),
        ('endpoint."GET /api/feed"', "p99_ms", 119, 120),
        ('endpoint."GET /api/feed"', "max_queries", 2, 3),
    ],
)
def test_it_fails_one_step_past_each_limit(tmp_path, summary, scope, key, limit, actual):
    (check,) = thresholds_check(summary, write(tmp_path, f"[{scope}]\n{key} = {limit}\n"))
    assert not check.ok
    assert check.actual == actual
    assert check.line().startswith("FAIL")


def test_it_fails_on_a_failure_ratio_above_the_limit(tmp_path, description):
    summary = summary_build(make_run(tmp_path / "run", failures=50), description=description)
    gate = write(tmp_path, '[endpoint."GET /api/feed"]\nmax_failure_ratio = 0.01\n')
    (check,) = thresholds_check(summary, gate)
    assert (check.ok, check.actual) == (False, 0.05)


def test_it_fails_an_endpoint_the_run_never_requested_unless_optional(tmp_path, summary):
    gate = write(
        tmp_path,
        '[endpoint."GET /api/gone"]\np95_ms = 100\n\n'
        '[endpoint."GET /api/maybe"]\np95_ms = 100\noptional = true\n',
    )
    gone, maybe = thresholds_check(summary, gate)
    assert (gone.ok, gone.actual) == (False, None)
    assert maybe.ok


def test_it_fails_a_query_gate_without_server_timing(tmp_path, summary):
    for row in summary["endpoints"]:
        row["server"] = None
    (check,) = thresholds_check(
        summary, write(tmp_path, '[endpoint."GET /api/feed"]\nmax_queries = 50\n')
    )
    assert not check.ok


def test_it_rejects_unknown_keys_and_bad_toml(tmp_path):
    with pytest.raises(ThresholdError, match="unknown keys"):
        write(tmp_path, "[aggregate]\np95 = 3\n")
    with pytest.raises(ThresholdError, match="cannot read"):
        write(tmp_path, "[aggregate\n")


def test_the_ci_thresholds_file_is_valid():
    from pathlib import Path

    gate = thresholds_load(Path(__file__).parents[1] / "thresholds" / "ci.toml")
    assert gate["endpoint"], "the CI gate must name endpoints"
    assert any("max_queries" in limits for limits in gate["endpoint"].values())
