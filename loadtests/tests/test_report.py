"""report.md, report.html and the PNG charts, for one run and for an A/B comparison."""

from __future__ import annotations

import json
from typing import Any

from loadtests.compare import compare_headline, compare_of, compare_write
from loadtests.report import console_table, report_write
from loadtests.summary import summary_build
from loadtests.tests.conftest import make_run


def test_it_writes_a_report_with_charts_and_the_query_table(tmp_path, description):
    run = make_run(tmp_path / "run", failures=3)
    summary = summary_build(run, description=description)
    report_write(run, summary)
    for name in ("rps_users.png", "latency.png", "endpoints.png", "queries.png", "errors.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    markdown = (run / "report.md").read_text()
    assert "![rps_users.png](rps_users.png)" in markdown
    assert "| GET /api/feed | 1,000 | 3 |" in markdown
    assert "3 / 3" in markdown  # mean / max queries from Server-Timing
    assert "HTTP 500" in markdown
    page = (run / "report.html").read_text()
    assert "<img src='queries.png'" in page
    assert "<td>GET /api/feed</td>" in page
    assert json.loads((run / "summary.json").read_text())["aggregate"]["requests"] == 4000


def test_it_escapes_endpoint_names_in_html(tmp_path, description):
    run = make_run(tmp_path / "run")
    summary = summary_build(run, description=description)
    summary["endpoints"][0]["name"] = "GET /api/<script>"
    report_write(run, summary)
    assert "<script>" not in (run / "report.html").read_text()


def test_it_compares_two_runs_with_b_over_a_ratios(tmp_path, description):
    a = summary_build(
        make_run(tmp_path / "a", feed_queries=40),
        description={**description, "strategy": "feed=naive"},
    )
    b = summary_build(make_run(tmp_path / "b", feed_queries=4), description=description)
    b["endpoints"][0].update(rps=100.0, p95_ms=20.0)
    compare = compare_of(a, b)
    feed = next(r for r in compare["rows"] if r["name"] == "GET /api/feed")
    assert (feed["rps_ratio"], feed["p95_ms_ratio"], feed["queries_ratio"]) == (2.0, 0.25, 0.1)
    assert compare["a"] == "feed=naive"
    compare_write(tmp_path, a, b)
    markdown = (tmp_path / "report.md").read_text()
    assert "A feed=naive against B feed=cached" in markdown
    assert (tmp_path / "compare_endpoints.png").exists()
    assert json.loads((tmp_path / "compare.json").read_text())["b"] == "feed=cached"


def _metered(app: float, postgres: float, redis: float) -> dict[str, Any]:
    return {
        "seconds": {"app": app, "postgres": postgres, "redis": redis},
        "found": {"app": True, "postgres": True, "redis": True},
        "excluded_seconds": {"app": 0.0, "postgres": 0.0, "redis": 0.0},
    }


def test_it_shows_server_cpu_per_request_by_role_and_per_endpoint(tmp_path, description):
    run = make_run(tmp_path / "run")
    summary = summary_build(run, description=description, cpu=_metered(10.0, 2.0, 0.4))
    report_write(run, summary)
    markdown = (run / "report.md").read_text()
    head = "| server CPU ms / request | app | postgres | redis | total | requests | CPU s |"
    assert head in markdown
    assert "| all endpoints | 2.50 | 0.50 | 0.10 | 3.10 | 4,000 | 10.0 / 2.0 / 0.4 |" in markdown
    assert "CPU ms (median/mean)" in markdown
    assert "| 4.00 / 4.90 |" in markdown  # the feed's request-thread CPU from cpu;dur
    assert "spent 4.90 ms of the app's 2.50 ms" in markdown
    assert "<td>2.50</td>" in (run / "report.html").read_text()
    assert "app 2.50 + postgres 0.50 + redis 0.10 = 3.10 ms CPU per request" in console_table(
        summary
    )


def test_it_leaves_the_cpu_table_out_of_a_run_without_a_meter(tmp_path, description):
    run = make_run(tmp_path / "run")
    report_write(run, summary_build(run, description=description))
    assert "server CPU ms / request" not in (run / "report.md").read_text()


def test_it_compares_server_cpu_per_request_of_a_and_b(tmp_path, description):
    a = summary_build(
        make_run(tmp_path / "a"),
        description={**description, "strategy": "feed=naive"},
        cpu=_metered(20.0, 8.0, 0.4),
    )
    b = summary_build(
        make_run(tmp_path / "b"), description=description, cpu=_metered(10.0, 2.0, 0.4)
    )
    b["endpoints"][0]["cpu_ms"] = {"median": 1.0, "mean": 1.2}
    compare = compare_write(tmp_path, a, b)
    assert compare["server_cpu_ms_per_request"]["app"] == {"a": 5.0, "b": 2.5, "ratio": 0.5}
    assert compare["server_cpu_ms_per_request"]["postgres"]["ratio"] == 0.25
    assert compare["server_cpu_ms_per_request"]["total"]["ratio"] == round(3.1 / 7.1, 3)
    feed = next(r for r in compare["rows"] if r["name"] == "GET /api/feed")
    assert (feed["cpu_ms_a"], feed["cpu_ms_b"], feed["cpu_ms_ratio"]) == (4.0, 1.0, 0.25)
    markdown = (tmp_path / "report.md").read_text()
    assert "| ms of CPU per request | A | B | B/A |" in markdown
    assert "| app | 5.00 | 2.50 | 0.50 |" in markdown
    assert "CPU ms A | CPU ms B | B/A" in markdown
    assert f"server CPU per request x{round(3.1 / 7.1, 3)}" in compare_headline(compare)
