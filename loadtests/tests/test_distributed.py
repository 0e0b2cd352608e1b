"""One short distributed run, end to end: `python -m loadtests.run --workers 2` starts a Locust
master on a free TCP port of 127.0.0.1 and two workers, each its own process, against the app
on its own ports and database (seeded tiny). The chat scenario, so every worker holds sockets.

The report must merge the workers: Locust's stats are the master's, and the tallies each worker
keeps (its request count, Server-Timing sums, chat ledger) reach the master in its stats
reports. Both workers must have sent load, their counts must add up to the merged totals, and
no chat message may count as lost because each worker keeps its own ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from loadtests.generator import locust_argv, worker_argv
from loadtests.summary import generators_of
from loadtests.testing import free_port, loadtest_database_url

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_TESTING", "DEBUG", "SILK")}
    env["DATABASE_URL"] = loadtest_database_url()
    env["REDIS_KEY_PREFIX"] = f"lt{os.environ.get('LAB_TEST_DB_SUFFIX', '')}"
    argv = [
        sys.executable, "-m", "loadtests.run",
        "--scenario", "chat", "--scale", "tiny", "--workers", str(WORKERS),
        "--users", "6", "--spawn", "6", "--duration", "10s", "--warmup", "0",
        "--think", "0.3", "--personas-per-tier", "2",
        "--out", str(out), "--name", "distributed",
        "--port", str(free_port()), "--ws-port", str(free_port()),
    ]  # fmt: skip
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = out / "distributed"
    return json.loads((report / "summary.json").read_text()), report


def raw_files(report: Path, kind: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((report / "raw").glob(f"{kind}.*.json"))]


def test_a_master_and_two_worker_processes_ran_over_tcp(distributed_run):
    summary, report = distributed_run
    assert summary["description"]["locust_workers"] == WORKERS
    for index in range(1, WORKERS + 1):
        assert (report / f"locust-worker-{index}.log").exists()
    parts = summary["generators"]["processes"]
    workers = {part["worker"] for part in parts}
    pids = {part["pid"] for part in parts}
    # Two workers, two processes, neither of them the master (which writes no part).
    assert len(parts) == len(workers) == len(pids) == WORKERS, parts
    assert all(part["requests"] > 0 for part in parts), parts


def test_the_merged_totals_are_the_sum_of_the_workers_parts(distributed_run):
    summary, report = distributed_run
    generators = summary["generators"]
    total = summary["aggregate"]["requests"]
    assert generators["adds_up"] is True
    assert sum(part["requests"] for part in generators["processes"]) == total > 0
    assert generators["failures"] == summary["aggregate"]["failures"]
    assert not [w for w in summary["warnings"] if "worker" in w or "add up" in w]
    # Server-Timing: every worker's sums are in the merged figures, one per HTTP response.
    timings = raw_files(report, "server-timing")
    assert len(timings) == WORKERS
    inbox = "GET /api/chat/rooms"
    per_worker = [t["endpoints"][inbox]["count"] for t in timings if inbox in t["endpoints"]]
    row = next(r for r in summary["endpoints"] if r["name"] == inbox)
    assert row["server"]["samples"] == sum(per_worker) == row["requests"]


def test_the_chat_ledgers_of_both_workers_are_merged(distributed_run):
    summary, report = distributed_run
    ledgers = raw_files(report, "chat")
    assert len(ledgers) == WORKERS
    assert all(ledger["sent"] > 0 and ledger["sockets_opened"] > 0 for ledger in ledgers)
    chat = summary["chat"]
    for key in ("sent", "acked", "deliveries", "sockets_opened", "lost", "unacked"):
        assert chat[key] == sum(ledger[key] for ledger in ledgers), key
    # A sender's echo comes back to its own socket in its own worker: merging loses nothing.
    assert chat["lost"] == 0 and chat["duplicated"] == 0, chat
    assert chat["deliveries"] >= chat["acked"] > 0
    report_md = (report / "report.md").read_text()
    assert "## Load generators" in report_md


def options(**changed: Any) -> argparse.Namespace:
    base = {"scenario": "mixed", "spawn": 5, "workers": 2, "remote_workers": 0}
    return argparse.Namespace(**{**base, "master_bind": "127.0.0.1", **changed})


def test_the_master_waits_for_the_local_and_the_remote_workers():
    argv = locust_argv(
        options(remote_workers=3, master_bind="0.0.0.0"),
        host="http://10.0.0.5:8100", out=Path("/tmp/r"), users=40, seconds=60,
        shape="steady", master_port=5557,
    )  # fmt: skip
    flags = dict(pairwise(argv))
    assert "--master" in argv and "--processes" not in argv
    assert flags["--master-bind-host"] == "0.0.0.0" and flags["--master-bind-port"] == "5557"
    assert flags["--expect-workers"] == "5"
    assert flags["--host"] == "http://10.0.0.5:8100"


def test_a_standalone_run_has_no_master():
    argv = locust_argv(
        options(workers=0), host="http://127.0.0.1:8100", out=Path("/tmp/r"), users=4,
        seconds=5, shape="steady",
    )  # fmt: skip
    assert not {"--master", "--expect-workers", "--worker"} & set(argv)


def test_a_worker_is_told_only_the_scenario_and_its_master():
    argv = worker_argv(options(), master_host="10.0.0.5", master_port=5557)
    assert argv[argv.index("-f") + 1].endswith("loadtests/scenarios/mixed.py")
    assert argv[-5:] == ["--worker", "--master-host", "10.0.0.5", "--master-port", "5557"]
    assert "-u" not in argv and "-t" not in argv  # users, time and host come from the master


def test_the_parts_may_miss_only_the_requests_in_flight_when_the_run_stopped(tmp_path):
    (tmp_path / "generator.1.json").write_text(json.dumps({"pid": 1, "requests": 2002}))
    aggregate = {"requests": 2001, "failures": 0}
    # 50 users: at most 50 requests were in flight when the final snapshot was taken.
    assert generators_of(tmp_path, aggregate, in_flight=50)["adds_up"] is True
    assert generators_of(tmp_path, aggregate, in_flight=0)["adds_up"] is False
    assert (
        generators_of(tmp_path, {"requests": 1900, "failures": 0}, in_flight=50)["adds_up"] is False
    )
