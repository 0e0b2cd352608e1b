"""The chaos lab's pure parts: error kinds, phases, the per-second timeline, the time to
recover, the chat reply ledger, each scenario's checks, and the report."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from loadtests.chaos.analysis import (
    LIMITS,
    Fault,
    analysis_of,
    chat_of,
    checks_of,
    first_status_after,
    last_failure_seconds,
    max_wait_ms,
    phases_split,
    records_read,
    recovery_seconds,
    server_errors_on_reads,
    timeline_of,
    unclean_write_refusals,
)
from loadtests.chaos.faults import ROOT
from loadtests.chaos.ledger import ReplyLedger, error_kind, request_record
from loadtests.chaos.report import TIMELINE_PNG, chaos_report_write
from loadtests.chatledger import tallies_merge
from loadtests.summary import summary_build
from loadtests.tests.conftest import make_run

T0 = 1_700_000_000.0
# The fault from 10 s to 25 s into a 40 s run, restored at its end.
FAULT = Fault("redis-outage", started=T0 + 10, ended=T0 + 25, restored=T0 + 25)


def rec(
    at: float,
    endpoint: str = "GET /api/feed",
    *,
    ms: float = 20.0,
    status: int | None = 200,
    error: str | None = None,
) -> dict[str, Any]:
    return {"t": T0 + at, "endpoint": endpoint, "ms": ms, "status": status, "error": error}


def fail(at: float, endpoint: str = "GET /api/feed", *, status: int | None = 500, **kw: Any):
    return rec(at, endpoint, status=status, error=kw.pop("error", f"HTTP {status}"), **kw)


def steady(seconds: range, endpoint: str = "GET /api/feed") -> list[dict[str, Any]]:
    """Two successes a second."""
    return [rec(s + half, endpoint) for s in seconds for half in (0.2, 0.7)]


# --- what a Locust process records -------------------------------------------------------------


def test_it_records_a_request_with_its_error_class_and_message():
    record = request_record(
        at=T0 + 1.23456, kind="GET", name="/api/feed", ms=12.345, status=0,
        exception=ConnectionRefusedError(111, "Connection refused"),
    )  # fmt: skip
    assert record == {
        "t": T0 + 1.2346,
        "endpoint": "GET /api/feed",
        "ms": 12.35,
        "status": None,
        "error": "ConnectionRefusedError: [Errno 111] Connection refused",
    }
    ok = request_record(at=T0, kind="WS", name="connect", ms=3, status=None, exception=None)
    assert ok["error"] is None
    assert error_kind(ok) is None


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (500, "CatchResponseError: HTTP 500", "HTTP 500"),
        (503, "HTTPError: HTTP Error 503: Service Unavailable", "HTTP 503"),
        (None, "ConnectionRefusedError: [Errno 111] Connection refused", "connection error"),
        (None, "ConnectionResetError: [Errno 104] Connection reset by peer", "connection error"),
        (None, "Timeout: 30 seconds", "timeout"),
        (None, "TimeoutError: timed out", "timeout"),
        (None, "RuntimeError: error frame: unavailable", "error frame unavailable"),
    ],
)
def test_it_names_the_kind_of_each_failure(status, error, kind):
    assert error_kind({"status": status, "error": error}) == kind


# --- phases, timeline, recovery ----------------------------------------------------------------


def test_it_splits_requests_into_before_during_and_after_by_completion_time():
    records = [
        rec(9.99),
        fail(10.0, status=500),  # the first instant of the fault is "during"
        fail(24.5, "POST /api/posts", status=503),
        fail(24.9, error="ConnectionResetError: reset", status=None),
        rec(25.0, "POST /api/posts", ms=900.0),  # the window's end is "after"
        rec(39.0),
    ]
    phases = phases_split(records, FAULT, start=T0, end=T0 + 40)
    assert [phases[p]["seconds"] for p in ("before", "during", "after")] == [10.0, 15.0, 15.0]
    assert phases["before"]["total"] == {
        "requests": 1, "failures": 0, "failure_ratio": 0.0, "kinds": {}
    }  # fmt: skip
    during = phases["during"]
    assert during["total"]["requests"] == 3
    assert during["total"]["failures"] == 3
    assert during["total"]["kinds"] == {"HTTP 500": 1, "connection error": 1, "HTTP 503": 1}
    assert during["endpoints"]["GET /api/feed"]["kinds"] == {"HTTP 500": 1, "connection error": 1}
    assert during["endpoints"]["POST /api/posts"]["failure_ratio"] == 1.0
    after = phases["after"]["endpoints"]
    assert after["POST /api/posts"] == {
        "requests": 1, "failures": 0, "kinds": {}, "max_ms": 900.0, "failure_ratio": 0.0
    }  # fmt: skip


def test_it_builds_a_per_second_timeline_of_requests_failures_and_p95():
    records = [rec(0.1, ms=10.0), rec(0.5, ms=30.0), fail(0.9, ms=50.0), rec(2.5, ms=7.0)]
    records += [rec(3.0 + i / 100, ms=float(i + 1)) for i in range(20)]
    line = timeline_of(records, start=T0, end=T0 + 4)
    assert line["t"] == [0, 1, 2, 3]
    assert line["requests"] == [3, 0, 1, 20]
    assert line["failures"] == [1, 0, 0, 0]
    assert line["p95_ms"][1] is None
    assert line["p95_ms"][2] == 7.0
    assert line["p95_ms"][3] == 19.1  # the inclusive quantile of 1..20 ms, 19.05


def test_recovery_is_zero_when_nothing_fails_after_the_restore():
    records = [fail(20.0), *steady(range(25, 40))]
    assert recovery_seconds(records, restored=T0 + 25, end=T0 + 40) == 0.0


def test_recovery_is_the_first_whole_second_after_the_last_failure():
    records = [*steady(range(25, 40)), fail(27.3), fail(25.1, "POST /api/posts", status=503)]
    # The last failure is 2.3 s after the restore: second 3 is the first good one.
    assert recovery_seconds(records, restored=T0 + 25, end=T0 + 40) == 3.0


def test_a_silent_second_is_not_a_recovered_one():
    # Nothing at all completes in seconds 3 and 4 after the restore (hung requests).
    records = [fail(27.3), *steady(range(30, 40))]
    assert recovery_seconds(records, restored=T0 + 25, end=T0 + 40) == 5.0


def test_a_service_still_failing_near_the_end_has_not_recovered():
    records = [*steady(range(25, 40)), fail(36.0)]
    # 37 s is the first good second, but fewer than STAYS_GOOD_SECONDS of run follow it.
    assert recovery_seconds(records, restored=T0 + 25, end=T0 + 40) is None
    assert recovery_seconds(records, restored=T0 + 25, end=T0 + 45) == 12.0
    assert last_failure_seconds(records, restored=T0 + 25) == 11.0
    assert last_failure_seconds(steady(range(25, 40)), restored=T0 + 25) is None


def test_the_longest_wait_counts_http_requests_in_flight_during_the_fault():
    records = [
        rec(9.0, ms=5000.0),  # finished before the fault: not counted
        rec(11.0, ms=3000.0),  # started before, finished during: counted
        rec(27.0, ms=2500.0),  # started during (24.5 s), finished after: counted
        rec(30.0, ms=4000.0),  # started after the window (26 s): not counted
        rec(12.0, "WS message.ack", ms=9000.0),  # not an HTTP request
    ]
    assert max_wait_ms(records, FAULT) == 3000.0
    assert max_wait_ms([rec(1.0)], FAULT) is None


def test_it_times_the_first_503_of_a_probe_after_the_fault_began():
    probes = [
        rec(9.0, "GET /readyz", status=503, error="x"),
        rec(10.4, "GET /readyz"),
        rec(10.8, "GET /readyz", status=503, error="x"),
    ]
    assert first_status_after(probes, at=T0 + 10, status=503) == 0.8
    assert first_status_after(probes[:2], at=T0 + 10, status=503) is None


def test_it_counts_server_failures_of_reads_and_unclean_refusals_of_writes():
    records = [
        fail(12.0, status=500),
        fail(13.0, status=None, error="ConnectionRefusedError: refused"),
        fail(14.0, status=404),  # the client's own mistake, not the server's
        fail(15.0, "POST /api/posts", status=503),  # a clean refusal
        fail(16.0, "POST /api/posts/{id}/like", status=429),  # a clean refusal
        fail(17.0, "POST /api/posts/{id}/like", status=500),
        fail(30.0, "DELETE /api/posts/{id}/like", status=401),
        fail(18.0, "WS message.send", status=None, error="RuntimeError: error frame: x"),
    ]
    phases = phases_split(records, FAULT, start=T0, end=T0 + 40)
    assert server_errors_on_reads(phases) == 2
    assert unclean_write_refusals(phases) == 2


# --- chat replies ------------------------------------------------------------------------------


def test_the_ledger_counts_sends_answered_by_neither_an_ack_nor_an_error_frame():
    ledger = ReplyLedger()
    for client_id, at in (("a", T0 + 1), ("b", T0 + 12), ("c", T0 + 13), ("d", T0 + 14)):
        ledger.on_send(client_id=client_id, sender="ann#1", room=7, at=at)
    ledger.on_ack(client_id="a", at=T0 + 1.1)
    ledger.on_ack_id(client_id="a", message_id=41)
    ledger.on_new(receiver="ann#1", client_id="a")
    ledger.on_ack(client_id="b", at=T0 + 12.1)  # acknowledged, never echoed: lost
    ledger.on_ack_id(client_id="b", message_id=42)
    ledger.on_error("unavailable")
    ledger.on_error_reply(client_id="c")  # refused with an error frame
    ledger.on_error_reply(client_id=None)  # an error about no send at all
    ledger.on_send(client_id="e", sender="ann#1", room=7, at=T0 + 15)
    ledger.on_send_failed(client_id="e")  # the socket was gone: never reached the server
    replies = ledger.replies(now=T0 + 30)
    assert replies == {
        "sent_at": [T0 + 1, T0 + 12, T0 + 13, T0 + 14],
        "no_reply_at": [T0 + 14],
        "lost_at": [T0 + 12],
        "errored": 1,
    }
    tally = ledger.tally(now=T0 + 30)
    assert (tally["sent"], tally["no_reply"], tally["errored"], tally["lost"]) == (4, 1, 1, 1)
    # The tally still merges with the chat scenario's other processes'.
    assert tallies_merge([tally, tally])["no_reply"] == 2
    # A reconnected socket syncs from before its oldest acknowledged, unechoed message.
    assert ledger.sync_since(sender="ann#1", seen=50) == 41
    assert ledger.sync_since(sender="bob#2", seen=50) == 50
    # Sends of the last GRACE_SECONDS are in flight, not unanswered.
    assert ledger.replies(now=T0 + 16)["no_reply_at"] == []


def test_chat_figures_are_summed_over_processes_and_placed_in_phases():
    replies = [
        {"sent_at": [T0 + 1, T0 + 12], "no_reply_at": [T0 + 12], "lost_at": [], "errored": 2},
        {"sent_at": [T0 + 30], "no_reply_at": [], "lost_at": [T0 + 30], "errored": 0},
    ]
    chat = chat_of(replies, FAULT)
    assert (chat["sent"], chat["no_reply"], chat["acked_lost"], chat["errored"]) == (3, 1, 1, 2)
    assert chat["by_phase"]["during"] == {"sent": 1, "no_reply": 1, "acked_lost": 0}
    assert chat["by_phase"]["after"] == {"sent": 1, "no_reply": 0, "acked_lost": 1}


def test_it_reads_every_process_log_and_skips_a_line_cut_short(tmp_path):
    (tmp_path / "requests.1.jsonl").write_text(json.dumps(rec(2.0)) + "\n" + '{"t": 17')
    (tmp_path / "requests.2.jsonl").write_text(json.dumps(rec(1.0)) + "\n")
    assert [r["t"] for r in records_read(tmp_path)] == [T0 + 1.0, T0 + 2.0]


# --- checks ------------------------------------------------------------------------------------


def analysed(records, *, fault=FAULT, probes=(), replies=()):
    return analysis_of(records, list(probes), list(replies), fault, start=T0, end=T0 + 45)


def test_a_worker_kill_passes_with_few_failures_and_a_quick_recovery():
    kill = Fault("worker-kill", started=T0 + 10, ended=T0 + 25, restored=T0 + 10)
    records = [*steady(range(45)), *steady(range(10, 25), "GET /api/search")]
    records += steady(range(10, 25), "GET /api/explore")  # 90 requests in the window
    records.append(fail(10.4, status=None, error="ConnectionResetError: reset"))
    checks = checks_of(analysed(records, fault=kill), LIMITS["worker-kill"])
    assert [(c.key, c.actual, c.ok) for c in checks] == [
        ("failure_ratio", 0.011, False),  # 1 of 91: just above 1 %
        ("recovery_s", 1.0, True),
        ("acked_lost", 0, True),
        ("no_reply", 0, True),
    ]
    records += steady(range(10, 25), "GET /api/posts/{id}")
    checks = checks_of(analysed(records, fault=kill), LIMITS["worker-kill"])
    assert all(c.ok for c in checks)


def test_a_redis_outage_fails_on_a_500_a_dropped_send_or_a_slow_recovery():
    records = [*steady(range(45)), fail(24.0, "POST /api/posts", status=503), fail(26.5)]
    replies = [{"sent_at": [T0 + 12], "no_reply_at": [T0 + 12], "lost_at": [], "errored": 0}]
    checks = {
        c.key: c for c in checks_of(analysed(records, replies=replies), LIMITS["redis-outage"])
    }
    assert checks["server_errors"].actual == 1  # the 500 on a read
    assert checks["unclean_refusals"].ok  # the 503 on a write is clean
    assert checks["recovery_s"].actual == 2.0
    assert checks["recovery_s"].ok
    assert not checks["no_reply"].ok
    assert sorted(k for k, c in checks.items() if not c.ok) == ["no_reply", "server_errors"]


def test_a_postgres_outage_needs_readyz_503_within_a_second_and_no_long_wait():
    records = [*steady(range(45)), rec(12.0, ms=2500.0)]
    probes = [rec(10.3, "GET /readyz"), rec(11.2, "GET /readyz", status=503, error="x")]
    analysis = analysed(records, probes=probes)
    checks = {c.key: c for c in checks_of(analysis, LIMITS["postgres-outage"])}
    assert (checks["seconds_to_503"].actual, checks["seconds_to_503"].ok) == (1.2, False)
    assert (checks["max_wait_ms"].actual, checks["max_wait_ms"].ok) == (2500.0, False)
    assert checks["recovery_s"].ok
    # A probe that never saw 503 is an absent figure, and an absent figure fails.
    checks = {c.key: c for c in checks_of(analysed(records), LIMITS["postgres-outage"])}
    assert checks["seconds_to_503"].actual is None
    assert not checks["seconds_to_503"].ok


# --- the report --------------------------------------------------------------------------------


def test_it_writes_the_load_test_report_with_the_fault_on_top(tmp_path, description):
    run = make_run(tmp_path / "run")
    summary = summary_build(run, description={**description, "scenario": "chaos"})
    records = [*steady(range(45)), fail(12.0, status=500), fail(26.2, status=None, error="Timeout")]
    probes = [rec(10.5, "GET /readyz", status=503, error="HTTPError: 503")]
    chaos = analysed(records, probes=probes)
    chaos["checks"] = [c.__dict__ for c in checks_of(chaos, LIMITS["redis-outage"])]
    summary["chaos"] = chaos
    chaos_report_write(run, summary)
    assert (run / TIMELINE_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "rps_users.png").exists()  # the load test's own charts too
    markdown = (run / "report.md").read_text()
    assert markdown.startswith("# Chaos: redis-outage\n")
    assert "**Verdict: FAIL** (1 of 5 checks failed)" in markdown
    # The 500 during the fault and the timeout after it are both the server failing a read.
    assert "| FAIL | reads | server_errors | 2 | 0 |" in markdown
    assert "| during | 15.0 | 31 | 1 | 3.23% | HTTP 500: 1 |" in markdown
    assert "| after | 20.0 | 41 | 1 | 2.44% | timeout: 1 |" in markdown
    assert "| GET /api/feed | 20 / 0 | 31 / 1 | 41 / 1 | 20.0 | HTTP 500: 1 | timeout: 1 |" in (
        markdown
    )
    assert "| GET /readyz | - | 1 / 1 | - | 20.0 | HTTP 503: 1 | - |" in markdown
    assert "| time to recover | 2 s |" in markdown
    assert "| last failure after it | 1.2 s |" in markdown
    assert f"![{TIMELINE_PNG}]({TIMELINE_PNG})" in markdown
    assert "## Endpoints" in markdown  # the load test's own sections follow
    page = (run / "report.html").read_text()
    assert f"<img src='{TIMELINE_PNG}'" in page
    saved = json.loads((run / "summary.json").read_text())
    assert saved["chaos"]["recovery_s"] == 2.0
    assert saved["chaos"]["fault"]["started_s"] == 10.0
    assert saved["aggregate"]["requests"] == 4000


# --- the locustfile ----------------------------------------------------------------------------


def test_the_chat_user_runs_its_own_send_and_read_never_the_base_class_ones():
    # In a child process: importing Locust gevent-patches the process that does it.
    code = (
        "import collections\n"
        "from loadtests.scenarios.chaos import ChaosChatUser\n"
        "print(dict(collections.Counter(t.__qualname__ for t in ChaosChatUser.tasks)))\n"
    )
    env = {**os.environ, "LAB_OUT": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert ast.literal_eval(out.strip().splitlines()[-1]) == {
        "ChaosChatUser.send_message": 6,
        "ChaosChatUser.mark_read": 2,
        "ChatUser.inbox": 2,
        "ChatUser.share_post": 1,
        "ChatUser.history": 1,
    }
