"""make perf-check: the chat probe's counts, the figures a run gives, baselines by machine, and
planted regressions that the check catches: the post-body fragment cache turned off in the
server, and a chat broadcast that skips a member. The verdicts: test_verdicts.py."""

from __future__ import annotations

import json
import os
import re
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
from ops import services

ROOT = Path(__file__).resolve().parents[2]


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
    # Rendering the post bodies again is more Python work per request, counted without noise.
    assert re.search(
        r"\| calls:feed\.cached \| [\d.]+ \| [\d.]+ \| \+[\d.]+% \| ±5% \| \*\*REGRESSED",
        checked.stdout,
    )
    assert "perf-check FAILED" in checked.stderr
    assert "  queries:feed.cached 0 -> " in checked.stderr.split("perf-check FAILED", 1)[1]
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
