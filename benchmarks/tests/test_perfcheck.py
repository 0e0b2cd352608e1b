"""make perf-check: the tolerance rule, the verdicts, the confirming rerun, the chat probe's
counts, and planted regressions that the check catches: the post-body fragment cache turned
off in the server, and a chat broadcast that skips a member."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from benchmarks import delivery, machines, perfcheck
from benchmarks.drive import DriveError
from benchmarks.perfcheck import Verdict
from ops import services

ROOT = Path(__file__).resolve().parents[2]


def test_the_tolerance_is_twice_the_widest_deviation_within_floor_and_cap():
    assert perfcheck.tolerance_of([1.0, 1.0, 1.0]) == perfcheck.TOLERANCE_FLOOR
    assert perfcheck.tolerance_of([0.9, 1.0, 1.07]) == pytest.approx(0.2)
    assert perfcheck.tolerance_of([0.5, 1.0, 1.5]) == perfcheck.TOLERANCE_CAP


def test_a_baseline_takes_medians_and_refuses_query_counts_that_differ_between_runs():
    runs = [{"share:feed": 0.5, "queries:feed": 3}, {"share:feed": 0.6, "queries:feed": 3}]
    runs.append({"share:feed": 0.55, "queries:feed": 3})
    figures = perfcheck.baseline_of(runs)
    assert figures["share:feed"]["value"] == 0.55
    assert figures["queries:feed"] == {"value": 3, "tolerance": 0, "runs": [3, 3, 3]}
    with pytest.raises(DriveError, match="queries:feed differed"):
        perfcheck.baseline_of([{"queries:feed": 3}, {"queries:feed": 4}])


@pytest.mark.parametrize(
    ("figure", "now", "status"),
    [
        ("share:feed", 0.79, "regressed"),  # throughput share fell 21 % against 10 %
        ("share:feed", 0.95, "ok"),
        ("share:feed", 1.2, "improved"),
        ("cpu:feed", 1.2, "regressed"),  # CPU per request rose 20 %
        ("cpu:feed", 0.8, "improved"),
        ("queries:feed", 4, "changed"),  # exact: any change fails, fewer queries too
        ("queries:feed", 2, "changed"),
        ("queries:feed", 3, "ok"),
        ("cpushare:feed", 1.2, "regressed"),  # CPU relative to hello rose 20 %
        ("cpushare:feed", 0.95, "ok"),
        ("delivery:frames", 2, "changed"),  # a count too
        ("delivery:frames", 3, "ok"),
    ],
)
def test_each_kind_is_judged_in_its_own_direction(figure, now, status):
    base = 3 if figure.startswith(("queries", "delivery")) else 1.0
    verdict = perfcheck.judge(figure, {"value": base, "tolerance": 0.1}, now)
    assert verdict.status == status


def test_a_timing_figure_fails_only_when_the_rerun_fails_too():
    baseline = {
        "share:feed.cached": {"value": 1.0, "tolerance": 0.1},
        "ab:feed.cached/optimized": {"value": 2.0, "tolerance": 0.1},
        "queries:feed.cached": {"value": 0, "tolerance": 0},
    }
    first = perfcheck.compare(
        baseline,
        {"share:feed.cached": 0.5, "ab:feed.cached/optimized": 1.0, "queries:feed.cached": 2},
    )
    asked: list[list[str]] = []

    def remeasure(names: list[str]) -> dict[str, float]:
        asked.append(names)
        return {"share:feed.cached": 0.98, "ab:feed.cached/optimized": 1.2}

    final = {v.figure: v.status for v in perfcheck.confirm(first, baseline, remeasure)}
    assert asked == [["hello", "feed.optimized", "feed.cached"]]
    assert final == {
        "share:feed.cached": "ok",  # noise: passed the second time
        "ab:feed.cached/optimized": "regressed",  # failed twice
        "queries:feed.cached": "changed",  # exact: never re-measured
    }


def test_the_chat_ledger_counts_lost_duplicated_and_foreign_frames():
    ledger = delivery.Ledger(sockets=2, client_ids=["a", "b"])
    # Socket 0 got both, "a" twice; socket 1 only "b"; a frame of another run is not counted.
    ledger.received.update({(0, "a"): 2, (0, "b"): 1, (1, "b"): 1, (1, "other"): 1})
    ledger.acks = 2
    ledger.errors.append("rate_limited")
    assert not ledger.complete()
    assert ledger.figures() == {
        "delivery:frames": 4,
        "delivery:lost": 1,
        "delivery:duplicated": 1,
        "delivery:acks": 2,
        "delivery:errors": 1,
    }
    ledger.received[1, "a"] += 1
    assert ledger.complete()


def test_the_table_marks_what_failed():
    text = perfcheck.table(
        [
            Verdict("queries:feed.cached", 0, 2, 0.0, "changed"),
            Verdict("share:feed.cached", 1.0, 1.01, 0.1, "ok"),
        ]
    )
    assert "| queries:feed.cached | 0 | 2 | +0.0% | exact | **CHANGED** |" in text
    assert "| share:feed.cached | 1 | 1.01 | +1.0% | ±10% | ok |" in text


# --- a planted regression, end to end ------------------------------------------------------

# A sitecustomize.py loaded by every Python process of the server through PYTHONPATH: once
# MODULE is imported, PATCH runs on it.
PLANT = """
import importlib.abc
import importlib.util
import sys


class Plant(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            PATCH(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Plant())
"""
# No cached post body is valid any more, as if the fragment cache were switched off.
FRAGMENT_CACHE_OFF = """
MODULE = "app.posts.viewcache"


def PATCH(module):
    module.fragment_valid = lambda raw: False
"""
# Every broadcast skips the recipient with the highest user id: one member of a group never
# hears anything.
MEMBER_SKIPPED = """
MODULE = "app.chat.services"


def PATCH(module):
    broadcast = module._broadcast

    def skipping(deliveries, **kwargs):
        last = max((user for user, _ in deliveries), default=None)
        return broadcast([d for d in deliveries if d[0] != last], **kwargs)

    module._broadcast = skipping
"""


def planted(tmp_path: Path, patch: str) -> dict[str, str]:
    """The PYTHONPATH entry that plants ``patch`` in the server's processes."""
    folder = tmp_path / "plant"
    folder.mkdir()
    source = textwrap.dedent(patch) + textwrap.dedent(PLANT)
    (folder / "sitecustomize.py").write_text(source)
    return {"PYTHONPATH": str(folder)}


def perf_database_url() -> str:
    """A database of its own on the suite's server: never the dev one, never the test one."""
    name = f"instalab_perf_test{os.environ.get('LAB_TEST_DB_SUFFIX', '')}"
    parts = urlsplit(os.environ.get("DATABASE_URL") or services.database_url())
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def perfcheck_run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.perfcheck", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def perfcheck_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_TESTING", "DEBUG", "SILK")}
    env["PERF_DATABASE_URL"] = perf_database_url()
    env["PERF_REDIS_KEY_PREFIX"] = f"perftest{os.environ.get('LAB_TEST_DB_SUFFIX', '')}"
    return env


needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None and os.environ.get("LAB_REQUIRE_PROFILER") != "1",
    reason="needs wrk (apt-get install -y wrk)",
)


@needs_wrk
def test_it_fails_when_the_fragment_cache_is_planted_off(tmp_path):
    env = perfcheck_env()
    files = ["--baseline", str(tmp_path / "baseline.json"), "--history", str(tmp_path / "h")]
    quick = ["--only", "feed.optimized,feed.cached", "--rounds", "1", "--seconds", "1"]

    made = perfcheck_run("baseline", "--runs", "1", *quick, *files, env=env)
    assert made.returncode == 0, made.stderr[-3000:]

    plant = planted(tmp_path, FRAGMENT_CACHE_OFF)
    checked = perfcheck_run("check", *quick, *files, env={**env, **plant})
    assert checked.returncode == 1, checked.stdout + checked.stderr[-3000:]
    assert "| queries:feed.cached | 0 |" in checked.stdout
    assert "**CHANGED**" in checked.stdout
    assert "perf-check FAILED" in checked.stderr
    # Both runs are in the history, the planted one with what failed.
    records = [json.loads(line) for line in (tmp_path / "h" / "perf-check.jsonl").open()]
    assert [record["kind"] for record in records] == ["baseline", "check"]
    assert records[0]["failed"] == []
    assert "queries:feed.cached" in records[1]["failed"]


@needs_wrk
def test_it_fails_when_a_chat_member_is_planted_out_of_the_broadcast(tmp_path):
    env = perfcheck_env()
    files = ["--baseline", str(tmp_path / "baseline.json"), "--history", str(tmp_path / "h")]
    quick = ["--only", "chat", "--rounds", "1", "--seconds", "1"]

    made = perfcheck_run("baseline", "--runs", "1", *quick, *files, env=env)
    assert made.returncode == 0, made.stderr[-3000:]
    figures = json.loads((tmp_path / "baseline.json").read_text())["figures"]
    sent, members = delivery.MESSAGES, delivery.MEMBERS
    assert figures["delivery:frames"]["value"] == sent * members
    assert figures["delivery:acks"]["value"] == sent
    for count in ("lost", "duplicated", "errors"):
        assert figures[f"delivery:{count}"]["value"] == 0

    plant = planted(tmp_path, MEMBER_SKIPPED)
    checked = perfcheck_run("check", *quick, *files, env={**env, **plant})
    assert checked.returncode == 1, checked.stdout + checked.stderr[-3000:]
    assert f"| delivery:lost | 0 | {sent} |" in checked.stdout
    assert f"| delivery:frames | {sent * members} | {sent * (members - 1)} |" in checked.stdout
    assert "perf-check FAILED" in checked.stderr


def test_a_baseline_update_replaces_only_the_probes_measured(tmp_path):
    path = tmp_path / "baseline.json"
    kept = {"value": 3, "tolerance": 0, "runs": [3]}
    path.write_text(json.dumps({"commit": "old", "figures": {"queries:feed": kept}}))
    fresh = {"delivery:lost": {"value": 0, "tolerance": 0, "runs": [0, 0]}}
    document = perfcheck.baseline_updated(path, fresh, runs=2, date="2026-11-30T10:00:00+00:00")
    assert document["figures"] == {"queries:feed": kept, **fresh}
    assert document["commit"] == "old"
    [update] = document["updates"]
    assert update["figures"] == ["delivery:lost"]
    assert update["runs"] == 2
    with pytest.raises(DriveError, match="no baseline"):
        perfcheck.baseline_updated(tmp_path / "none.json", fresh, runs=1, date="")


def test_an_update_needs_the_probes_it_replaces(capsys):
    with pytest.raises(SystemExit):
        perfcheck.arguments(["baseline", "--update"])
    assert "--update goes with" in capsys.readouterr().err
    assert perfcheck.arguments(["baseline", "--update", "--only", "chat"]).names == [
        "hello",
        "chat",
    ]


@pytest.mark.parametrize(
    ("figure", "kept"),
    [
        ("delivery:lost", True),
        ("share:feed.cached", True),  # measured against hello, but feed.cached's figure
        ("cpu:hello", False),  # hello runs with every probe; it is not what was named
        ("ab:feed.cached/optimized", False),  # feed.optimized was not measured
    ],
)
def test_an_update_keeps_only_the_named_probes_figures(figure, kept):
    assert perfcheck.named_by(figure, "chat,feed.cached") is kept


def test_cpu_per_request_is_also_judged_relative_to_hello_in_the_same_run():
    hello = perfcheck.ProbeRuns(path="/lab/hello", headers={}, rps=[100.0], cpu_seconds=0.2)
    hello.requests = 1000  # 0.2 ms a request
    feed = perfcheck.ProbeRuns(path="/api/feed", headers={}, rps=[10.0], cpu_seconds=1.0)
    feed.requests = 500  # 2 ms a request
    found = perfcheck.figures_of({"hello": hello, "feed.cached": feed})
    assert found["cpu:hello"] == 0.2
    assert found["cpu:feed.cached"] == 2.0
    assert found["cpushare:feed.cached"] == 10.0
    assert "cpushare:hello" not in found
    assert perfcheck.probes_behind(["cpushare:feed.cached"]) == ["hello", "feed.cached"]


def test_absolute_cpu_is_judged_only_on_the_baselines_machine():
    baseline = {
        "cpu:feed": {"value": 1.0, "tolerance": 0.1},
        "cpushare:feed": {"value": 5.0, "tolerance": 0.1},
    }
    now = {"cpu:feed": 1.6, "cpushare:feed": 5.1}  # another processor: slower throughout
    here = perfcheck.compare(baseline, now, same_machine=True)
    assert [(v.figure, v.status) for v in here] == [
        ("cpu:feed", "regressed"),
        ("cpushare:feed", "ok"),
    ]
    elsewhere = perfcheck.compare(baseline, now, same_machine=False)
    assert [(v.figure, v.status) for v in elsewhere] == [("cpushare:feed", "ok")]


def test_the_machine_is_the_same_when_its_processor_and_cores_are(monkeypatch):
    monkeypatch.setattr(perfcheck.drive, "machine", lambda: {"cpu": "Xeon", "nproc": 2})
    assert perfcheck.same_machine({"machine": {"cpu": "Xeon", "nproc": 2, "kernel": "x"}})
    assert not perfcheck.same_machine({"machine": {"cpu": "EPYC", "nproc": 2}})
    assert not perfcheck.same_machine({})


XEON = {"cpu": "Intel(R) Xeon(R) Processor", "nproc": 2}
EPYC = {"cpu": "AMD EPYC", "nproc": 2}


def test_a_kind_of_machine_is_its_processor_and_cores_as_a_file_name():
    assert machines.machine_slug(EPYC) == "amd-epyc-2cpu"
    assert machines.machine_slug(XEON) == "intel-r-xeon-r-processor-2cpu"
    assert machines.machine_slug({}) == "unknown-0cpu"


def test_each_kind_of_machine_reads_and_writes_its_own_baseline(tmp_path):
    default = tmp_path / "baseline.json"
    own = tmp_path / "baselines" / "amd-epyc-2cpu.json"
    # Nothing yet: the first baseline is the default, whatever the machine.
    assert machines.baseline_to_write(default, EPYC) == default
    assert machines.baseline_to_read(default, EPYC) == default
    default.write_text(json.dumps({"machine": XEON, "figures": {}}))
    # The default is the Xeon's: its own machine rewrites it, another writes a file of its own.
    assert machines.baseline_to_write(default, XEON) == default
    assert machines.baseline_to_write(default, EPYC) == own
    assert machines.baseline_to_read(default, EPYC) == default  # until that file exists
    own.parent.mkdir()
    own.write_text(json.dumps({"machine": EPYC, "figures": {}}))
    assert machines.baseline_to_read(default, EPYC) == own
    assert machines.baseline_to_write(default, EPYC) == own
    assert machines.baseline_to_read(default, XEON) == default


def test_the_arguments_pick_this_machines_baseline_unless_one_is_named(tmp_path, monkeypatch):
    default = tmp_path / "baseline.json"
    default.write_text(json.dumps({"machine": XEON, "figures": {}}))
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "amd-epyc-2cpu.json").write_text("{}")
    monkeypatch.setattr(perfcheck, "BASELINE_PATH", default)
    monkeypatch.setattr(perfcheck.drive, "machine", lambda: EPYC)
    assert perfcheck.arguments(["check"]).baseline == tmp_path / "baselines" / "amd-epyc-2cpu.json"
    monkeypatch.setattr(perfcheck.drive, "machine", lambda: XEON)
    assert perfcheck.arguments(["check"]).baseline == default
    named = tmp_path / "mine.json"
    assert perfcheck.arguments(["check", "--baseline", str(named)]).baseline == named
