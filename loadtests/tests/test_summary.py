"""summary.json from Locust's CSVs, the Server-Timing files, chat tallies and CPU samples."""

from __future__ import annotations

import json

from loadtests.summary import knee_of, summary_build, timeline_read
from loadtests.tests.conftest import make_run


def test_it_joins_locust_percentiles_with_server_side_figures(tmp_path, description):
    summary = summary_build(make_run(tmp_path / "run", feed_queries=7), description=description)
    feed = next(r for r in summary["endpoints"] if r["name"] == "GET /api/feed")
    assert (feed["requests"], feed["rps"], feed["p50_ms"], feed["p95_ms"], feed["p99_ms"]) == (
        1000,
        50.0,
        20,
        80,
        120,
    )
    assert feed["max_ms"] == 300.5
    assert feed["server"]["mean_queries"] == 7
    assert feed["server"]["cache_hit_ratio"] == 0.75
    assert summary["aggregate"]["requests"] == 4000
    assert [r["name"] for r in summary["endpoints"]] == ["GET /api/feed", "GET /api/search/suggest"]
    assert summary["chat"] is None
    json.dumps(summary)  # it must be writable as summary.json


def test_it_reports_errors_by_endpoint_and_kind(tmp_path, description):
    summary = summary_build(make_run(tmp_path / "run", failures=12), description=description)
    assert summary["errors"] == [{"endpoint": "GET /api/feed", "error": "HTTP 500", "count": 12}]
    assert summary["aggregate"]["failure_ratio"] == 0.003
    assert any("12 requests failed" in w for w in summary["warnings"])


def test_it_warns_when_the_generator_was_saturated(tmp_path, description):
    samples = [{"generator_cpu": 0.0, "generator_process_max_cpu": 0.0}] + [
        {"generator_cpu": 97.0, "generator_process_max_cpu": 97.0, "server_cpu": 80.0,
         "server_rss_mb": 300.0, "machine_cpu": 100.0}
    ] * 5  # fmt: skip
    summary = summary_build(make_run(tmp_path / "run"), description=description, samples=samples)
    assert summary["resources"]["generator_cpu_mean"] == 97.0
    assert any("generator was saturated" in w for w in summary["warnings"])


def test_it_does_not_warn_when_the_generator_had_headroom(tmp_path, description):
    samples = [
        {"generator_cpu": 30.0, "generator_process_max_cpu": 30.0, "server_rss_mb": 300.0}
    ] * 5
    summary = summary_build(make_run(tmp_path / "run"), description=description, samples=samples)
    assert summary["warnings"] == []
    assert summary["resources"]["server_rss_growth"] == 0.0


def test_it_merges_chat_tallies_and_delivery_percentiles(tmp_path, description):
    run = make_run(tmp_path / "run")
    (run / "raw" / "chat.1.json").write_text(json.dumps({"sent": 5, "lost": 1, "duplicated": 0}))
    (run / "raw" / "chat.2.json").write_text(json.dumps({"sent": 7, "lost": 0, "duplicated": 2}))
    summary = summary_build(run, description=description)
    assert summary["chat"] == {"sent": 12, "lost": 1, "duplicated": 2}


def test_it_finds_the_knee_as_the_best_step_under_the_p95_target(tmp_path, description):
    steps = [
        (50, 100.0, 30.0, 0.0),
        (100, 200.0, 45.0, 0.0),
        (150, 290.0, 90.0, 0.0),
        (200, 320.0, 180.0, 0.0),  # faster, but over the target
        (250, 300.0, 95.0, 1.5),  # under the target, but failing
    ]
    run = make_run(tmp_path / "run", steps=steps)
    knee = knee_of(timeline_read(run), p95_target_ms=100)
    assert knee is not None
    assert [s["users"] for s in knee["steps"]] == [50, 100, 150, 200, 250]
    assert knee["knee"] == {"users": 150, "rps": 290.0, "p95_ms": 90.0, "fail_s": 0.0}
    description["shape"] = "ramp"
    assert summary_build(run, description=description)["knee"]["knee"]["users"] == 150


def test_it_reports_p95_drift_between_the_start_and_the_end(tmp_path, description):
    steps = [(50, 100.0, p95, 0.0) for p95 in (50.0, 50.0, 52.0, 55.0, 60.0, 60.0)]
    summary = summary_build(make_run(tmp_path / "run", steps=steps), description=description)
    assert summary["drift"]["p95_first_ms"] == 50.0
    assert summary["drift"]["p95_last_ms"] == 60.0
    assert summary["drift"]["p95_drift"] == 0.2


# The meter's CPU seconds over the window; make_run completes 4,000 requests.
METERED = {
    "seconds": {"app": 10.0, "postgres": 2.0, "redis": 0.4},
    "found": {"app": True, "postgres": True, "redis": True},
    "excluded_seconds": {"app": 0.0, "postgres": 0.3, "redis": 0.0},
}


def test_it_reports_server_cpu_ms_per_request_by_role(tmp_path, description):
    summary = summary_build(make_run(tmp_path / "run"), description=description, cpu=METERED)
    assert summary["server_cpu_ms_per_request"] == {
        "app": 2.5,
        "postgres": 0.5,
        "redis": 0.1,
        "total": 3.1,
    }
    assert summary["server_cpu"]["requests"] == 4000
    assert summary["server_cpu"]["excluded_seconds"]["postgres"] == 0.3
    assert summary["warnings"] == []
    json.dumps(summary)


def test_it_reports_each_endpoints_request_thread_cpu(tmp_path, description):
    summary = summary_build(make_run(tmp_path / "run"), description=description, cpu=METERED)
    feed, suggest = summary["endpoints"]
    assert feed["cpu_ms"] == {"median": 4.0, "mean": 4.9}
    assert suggest["cpu_ms"] is None  # its server predates cpu;dur
    assert summary["aggregate"]["cpu_ms"] == {"median": 4.0, "mean": 4.9}
    assert summary["server_cpu"]["request_thread_ms"] == 4.9


def test_it_does_not_count_pushed_deliveries_as_requests(tmp_path, description):
    run = make_run(tmp_path / "run")
    with (run / "locust_stats.csv").open("a") as handle:
        handle.write("WS,message.new delivery,6000,0,5,5,1,9,100,30,0" + ",5" * 11 + "\n")
    summary = summary_build(run, description=description, cpu=METERED)
    assert summary["server_cpu"]["requests"] == 4000
    assert summary["server_cpu_ms_per_request"]["app"] == 2.5


def test_it_has_no_cpu_figure_without_a_meter_and_warns_of_a_missing_server(tmp_path, description):
    summary = summary_build(make_run(tmp_path / "run"), description=description)
    assert summary["server_cpu_ms_per_request"] is None
    missing = {**METERED, "found": {"app": True, "postgres": True, "redis": False}}
    summary = summary_build(make_run(tmp_path / "again"), description=description, cpu=missing)
    assert any("no process found for redis" in w for w in summary["warnings"])
