"""The lab's history file: records appended per run, read back, and the import of old results."""

from __future__ import annotations

import json

from loadtests import history

SUMMARY = {
    "description": {"scenario": "feed", "strategy": "default", "commit": "abc1234"},
    "aggregate": {"rps": 120.5, "p50_ms": 8.0, "p95_ms": 31.0, "failure_ratio": 0.0},
    "endpoints": [
        {"name": "GET /api/feed", "rps": 80.0, "p50_ms": 9.0, "p95_ms": 33.0,
         "failure_ratio": 0.0, "server": {"mean_queries": 2.5}},
        {"name": "WS connect", "rps": 0.1, "p50_ms": 30.0, "p95_ms": 40.0,
         "failure_ratio": 0.0, "server": None},
    ],
    "server_cpu_ms_per_request": {"app": 3.2, "total": 4.0},
}  # fmt: skip


def test_a_load_test_run_becomes_one_record_of_its_figures():
    record = history.loadtest_record(SUMMARY, source="reports/x")
    assert record["kind"] == "loadtest"
    assert record["scenario"] == "feed"
    assert record["commit"] == "abc1234"
    assert record["figures"] == {
        "all.rps": 120.5,
        "all.p50_ms": 8.0,
        "all.p95_ms": 31.0,
        "all.failure_ratio": 0.0,
        "GET /api/feed.rps": 80.0,
        "GET /api/feed.p50_ms": 9.0,
        "GET /api/feed.p95_ms": 33.0,
        "GET /api/feed.failure_ratio": 0.0,
        "GET /api/feed.queries": 2.5,
        "WS connect.rps": 0.1,
        "WS connect.p50_ms": 30.0,
        "WS connect.p95_ms": 40.0,
        "WS connect.failure_ratio": 0.0,
        "cpu_ms.app": 3.2,
        "cpu_ms.total": 4.0,
    }


def test_records_append_per_kind_and_a_torn_last_line_is_skipped(tmp_path):
    history.append({"kind": "check", "figures": {"a": 1}}, tmp_path)
    history.append({"kind": "loadtest", "figures": {"b": 2}}, tmp_path)
    history.append({"kind": "baseline", "figures": {"a": 3}}, tmp_path)
    path = history.path_for("check", tmp_path)
    with path.open("a") as out:
        out.write('{"kind": "check", "figu')  # a run killed while writing
    assert [r["figures"] for r in history.read(path)] == [{"a": 1}, {"a": 3}]
    assert len(history.read(history.path_for("loadtest", tmp_path))) == 1


def test_numbers_are_found_by_path_and_descriptions_are_left_out():
    data = {
        "machine": {"cpus": 2},
        "pages": {"1": {"naive": {"median_ms": 4.5, "queries": 43, "ids": [1, 2]}}},
        "benchmarks": [{"name": "test_feed[naive]", "stats": {"median": 0.004}}],
        "ok": True,
    }
    assert dict(history.numbers_of(data)) == {
        "pages.1.naive.median_ms": 4.5,
        "pages.1.naive.queries": 43,
        "benchmarks[test_feed[naive]].stats.median": 0.004,
    }


def test_the_import_reads_a_results_file_with_its_own_date_and_commit(tmp_path, monkeypatch):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "feed.json").write_text(
        json.dumps({"date": "2026-11-20T10:00:00+00:00", "commit": "feedbee", "ratio": 12.5})
    )
    (results / "broken.json").write_text("{not json")
    monkeypatch.setattr(history, "ROOT", tmp_path)
    assert history.import_existing(tmp_path / "h") == 1
    [record] = history.read(history.path_for("import", tmp_path / "h"))
    assert (record["date"], record["commit"], record["figures"]) == (
        "2026-11-20T10:00:00+00:00",
        "feedbee",
        {"ratio": 12.5},
    )
