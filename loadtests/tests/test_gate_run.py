"""One short real run, end to end: seeded data, the app on its own ports, Locust, the report,
and the gate failing on the deliberately slowed strategy (feed=naive) while feed=cached passes.

Query counts are exact, so the gate's verdict does not depend on how busy the machine is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.testing import free_port, loadtest_database_url

ROOT = Path(__file__).resolve().parents[2]
GATE = """
[aggregate]
max_failure_ratio = 0.0

[endpoint."GET /api/feed"]
# naive runs two extra queries per post (40+ for a page); cached and optimized a handful.
max_queries = 15
"""


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    gate = out / "gate.toml"
    gate.write_text(GATE)
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_TESTING", "DEBUG", "SILK")}
    env["DATABASE_URL"] = loadtest_database_url()
    env["REDIS_KEY_PREFIX"] = f"lt{os.environ.get('LAB_TEST_DB_SUFFIX', '')}"
    argv = [
        sys.executable, "-m", "loadtests.run",
        "--scenario", "feed", "--scale", "tiny",
        "--compare", "feed=naive", "feed=cached",
        "--users", "8", "--spawn", "8", "--duration", "8s", "--warmup", "0",
        "--think", "0.3", "--personas-per-tier", "2",
        "--thresholds", str(gate), "--out", str(out), "--name", "gate",
        "--port", str(free_port()), "--ws-port", str(free_port()),
    ]  # fmt: skip
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return result, out / "gate"


def test_it_exits_non_zero_when_the_naive_feed_breaks_the_query_gate(gate_run):
    result, _ = gate_run
    assert result.returncode == 1, result.stderr[-3000:]
    assert "FAIL GET /api/feed: max_queries" in result.stdout


def test_it_fails_naive_and_passes_cached_on_the_same_gate(gate_run):
    _, report = gate_run
    naive = json.loads((report / "a" / "summary.json").read_text())
    cached = json.loads((report / "b" / "summary.json").read_text())
    verdict = {
        (c["scope"], c["key"]): c["ok"] for c in naive["thresholds"]
    }  # fmt: skip
    assert verdict[("GET /api/feed", "max_queries")] is False
    assert all(c["ok"] for c in cached["thresholds"]), cached["thresholds"]
    feed_naive = next(r for r in naive["endpoints"] if r["name"] == "GET /api/feed")
    feed_cached = next(r for r in cached["endpoints"] if r["name"] == "GET /api/feed")
    for row, chosen in ((feed_naive, "feed=naive"), (feed_cached, "feed=cached")):
        # Every response says (Server-Timing) it was served by the asked feed strategy.
        used = row["server"]["strategies"]
        assert all(chosen in key.split(",") for key in used), used
        assert sum(used.values()) == row["server"]["samples"] > 0
    assert feed_naive["server"]["max_queries"] > 15 >= feed_cached["server"]["max_queries"]


def test_it_writes_the_listed_report_files(gate_run):
    _, report = gate_run
    for side in ("a", "b"):
        for name in (
            "summary.json", "report.md", "report.html", "rps_users.png", "latency.png",
            "queries.png", "locust.html", "locust.json", "locust_stats.csv",
            "locust_stats_history.csv", "locust_failures.csv",
        ):  # fmt: skip
            assert (report / side / name).stat().st_size > 0, f"{side}/{name}"
        summary = json.loads((report / side / "summary.json").read_text())
        described = summary["description"]
        assert described["scale"] == "tiny" and described["cores"] >= 1
        assert described["commit"] and described["server"]["setup"] == "split"
        assert summary["aggregate"]["requests"] > 0
        assert summary["resources"]["generator_cpu_mean"] >= 0
    compare = json.loads((report / "compare.json").read_text())
    assert (compare["a"], compare["b"]) == ("feed=naive", "feed=cached")
    assert "B/A" in (report / "report.md").read_text()
