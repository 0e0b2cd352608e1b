"""report.md, report.html and the PNG charts, for one run and for an A/B comparison."""

from __future__ import annotations

import json

from loadtests.report import compare_of, compare_write, report_write
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
