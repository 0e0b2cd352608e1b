"""The CPU meter: known burns in child processes, the servers it finds, other databases left out."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest
import redis
from django.conf import settings
from django.db import connection

from loadtests import cpu
from loadtests.cpu import CpuMeter, Reading, pg_title_database, postgres_pid, redis_pid, tree_read

# Burns `seconds` of its own CPU (process_time, so a busy box only makes it take longer).
BURN = (
    "import time\n"
    "def burn(seconds):\n"
    "    end = time.process_time() + seconds\n"
    "    while time.process_time() < end:\n"
    "        pass\n"
)
# Waits for a line, does its work, says "done", then waits to be killed.
ON_CUE = "import sys\nsys.stdin.readline()\n{work}\nprint('done', flush=True)\nsys.stdin.read()\n"


@pytest.fixture
def child() -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def spawn(work: str) -> subprocess.Popen[str]:
        code = BURN + ON_CUE.format(work=work)
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        process.kill()
        process.wait()


def _cue(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "done"


def test_it_meters_a_process_that_burns_a_known_amount_of_cpu(child):
    process = child("burn(0.5)")
    time.sleep(0.3)  # the interpreter's start-up is spent before the window opens
    meter = CpuMeter(roots={"app": process.pid})
    meter.start()
    _cue(process)
    spent = meter.stop()
    assert 0.45 <= spent["app"] <= 0.8, spent


def test_it_counts_children_that_lived_and_died_between_two_polls(child):
    # Four 0.15 s children, each gone before the meter's next poll: PostgreSQL's parallel and
    # autovacuum workers live like this. Their CPU reaches the parent as reaped children time.
    burn_child = f"[sys.executable, '-c', {BURN + 'burn(0.15)'!r}]"
    work = f"import subprocess\nfor _ in range(4):\n    subprocess.run({burn_child}, check=True)"
    process = child(work)
    time.sleep(0.3)
    meter = CpuMeter(roots={"app": process.pid})
    meter.start()
    _cue(process)
    spent = meter.stop()
    assert 0.55 <= spent["app"] <= 1.3, spent


def test_it_leaves_out_cpu_spent_before_the_window(child):
    process = child("burn(0.4)")
    _cue(process)
    meter = CpuMeter(roots={"app": process.pid})
    meter.start()
    time.sleep(0.6)
    spent = meter.stop()
    assert spent["app"] < 0.05, spent


def test_a_role_without_a_server_costs_nothing():
    meter = CpuMeter(roots={"app": None})
    meter.start()
    assert meter.stop() == {"app": 0.0}
    assert meter.found() == {"app": False}


@pytest.mark.parametrize(
    ("title", "database"),
    [
        ("postgres: postgres instalab [local] idle", "instalab"),
        # Debian's clusters set cluster_name, which the title carries first.
        ("postgres: 15/main: postgres test_instalab_ci 127.0.0.1(5012) SELECT", "test_instalab_ci"),
        ("postgres: 15/main: checkpointer ", None),
        ("postgres: 15/main: autovacuum worker instalab", "instalab"),
        ("postgres: postgres test_instalab_cpu 127.0.0.1(5012) SELECT", "test_instalab_cpu"),
        ("postgres: autovacuum worker instalab_lt", "instalab_lt"),
        ("postgres: checkpointer ", None),
        ("postgres: io worker 2", None),
        ("postgres: walwriter", None),
        ("postgres: parallel worker for PID 7530", None),
        ("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", None),
    ],
)
def test_it_reads_the_database_from_a_postgres_process_title(title, database):
    assert pg_title_database(title) == database


def test_it_leaves_out_backends_of_other_databases(monkeypatch):
    # Scripted readings of one postmaster tree, so the sum is exact: ours spends 1 s, a backend
    # of another database spends 1.5 s while watched and 0.5 s more after the last poll.
    monkeypatch.setattr(cpu, "POLL_SECONDS", 3600.0)
    postmaster, ours, theirs = (1, 0.0), (2, 0.0), (3, 0.0)
    readings = iter(
        [
            {
                postmaster: Reading(0.0, children=10.0),
                ours: Reading(1.0, "lab"),
                theirs: Reading(2.0, "test"),
            },
            # `theirs` exited; the kernel moved its 4 s into the postmaster's children time.
            {postmaster: Reading(0.0, children=14.0), ours: Reading(2.0, "lab")},
        ]
    )
    meter = CpuMeter(roots={"postgres": 1}, database="lab")
    monkeypatch.setattr(meter, "_poll", lambda: {"postgres": next(readings)})
    meter.start()
    meter._record({"postgres": {theirs: Reading(3.5, "test")}})
    assert meter.stop() == {"postgres": 1.5}
    assert meter.excluded == {"postgres": 1.5}


@pytest.mark.django_db
def test_it_finds_the_postgres_server_the_app_uses_and_meters_its_backend():
    root = postgres_pid(settings.DATABASE_URL)
    assert root is not None
    database = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
        assert backend in {p.pid for p in psutil.Process(root).children()}
        before = {key[0]: reading for key, reading in tree_read(root, titles=True).items()}
        cursor.execute("SELECT sum(x) FROM generate_series(1, 3000000) AS x")
        after = {key[0]: reading for key, reading in tree_read(root, titles=True).items()}
    # Our backend is read from the server's tree, named by its title, and its CPU moved. (The
    # meter's sums over a whole tree are pinned exactly by the scripted tests above; on a
    # server shared with a running suite, other backends come and go during any window.)
    assert after[backend].database == database, after[backend]
    assert after[backend].seconds - before[backend].seconds >= 0.1, (
        before[backend],
        after[backend],
    )


def test_it_finds_the_redis_server_the_app_uses():
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert redis_pid(settings.REDIS_URL) == client.info("server")["process_id"]
