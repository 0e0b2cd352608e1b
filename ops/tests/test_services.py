"""The embedded servers: start, restart, stop, stale state, concurrent starts, full disk.

These start a second, private PostgreSQL and Redis in a temporary var/ directory, so they
never touch the servers the rest of the suite runs on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from ops import services

ROOT = Path(__file__).resolve().parents[2]


def run_services(var: Path, action: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["LAB_VAR_DIR"] = str(var)
    return subprocess.run(
        [sys.executable, "-m", "ops.services", action, *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def var() -> Iterator[Path]:
    # Not under pytest's tmp_path: every pytest session resets /tmp/pytest-of-<user> to 0700,
    # which would lock the unprivileged postgres user out of a running cluster.
    base = Path(tempfile.mkdtemp(prefix="instalab-services-"))
    base.chmod(0o755)
    var = base / "var"
    yield var
    run_services(var, "stop")
    shutil.rmtree(base, ignore_errors=True)


def postgres_answers(var: Path) -> int:
    with psycopg.connect(f"host={var / 'postgres'} user=postgres dbname=instalab") as conn:
        row = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").fetchone()
        assert row is not None
        return int(row[0])


def test_it_starts_both_servers_and_a_second_start_is_a_no_op(var: Path) -> None:
    first = run_services(var, "start")
    assert first.returncode == 0, first.stderr
    assert "postgres: running" in first.stdout
    assert "redis:    running" in first.stdout
    assert postgres_answers(var) == 1
    assert redis.Redis(unix_socket_path=str(var / "redis" / "redis.sock")).ping()

    pid_before = (var / "postgres" / "postmaster.pid").read_text().split()[0]
    second = run_services(var, "start")
    assert second.returncode == 0, second.stderr
    assert (var / "postgres" / "postmaster.pid").read_text().split()[0] == pid_before


def test_data_survives_a_stop_and_start(var: Path) -> None:
    assert run_services(var, "start").returncode == 0
    conninfo = f"host={var / 'postgres'} user=postgres dbname=instalab"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")

    stopped = run_services(var, "stop")
    assert "postgres: stopped" in stopped.stdout
    assert run_services(var, "status").returncode == 3

    assert run_services(var, "start").returncode == 0
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)


def test_it_starts_a_streaming_standby_that_follows_the_primary(var: Path) -> None:
    started = run_services(var, "start", "--replicas", "1")
    assert started.returncode == 0, started.stderr
    assert "replica:  running" in started.stdout
    urls = run_services(var, "replica-urls").stdout.strip()
    assert urls.startswith("postgres://postgres@/instalab?host=")
    standby = urls.split("host=")[1].split("&")[0]

    primary = f"host={var / 'postgres'} user=postgres dbname=instalab"
    with psycopg.connect(primary, autocommit=True) as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("replica",)
        conn.execute("CREATE TABLE streamed (v int)")
        conn.execute("INSERT INTO streamed VALUES (7)")
    copy = f"host={standby} port=5433 user=postgres dbname=instalab"
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(copy) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            if conn.execute("SELECT to_regclass('streamed')").fetchone() != (None,):
                assert conn.execute("SELECT v FROM streamed").fetchone() == (7,)
                break
        assert time.monotonic() < deadline, "the standby never replayed the new table"
        time.sleep(0.1)

    stopped = run_services(var, "stop")
    assert "replica1: stopped" in stopped.stdout
    assert run_services(var, "replica-urls").stdout.strip() == ""


def test_it_refuses_a_replica_count_out_of_range(var: Path) -> None:
    refused = run_services(var, "start", "--replicas", "9")
    assert refused.returncode == 2
    assert "--replicas takes 0 to 4" in refused.stderr


def test_it_clears_a_stale_pid_file_and_socket(var: Path) -> None:
    assert run_services(var, "start").returncode == 0
    assert run_services(var, "stop").returncode == 0
    # A crash leaves these behind, pointing at processes that no longer exist.
    dead_pid = "999999"
    (var / "redis" / "redis.pid").write_text(dead_pid)
    (var / "redis" / "redis.sock").write_text("")

    started = run_services(var, "start")
    assert started.returncode == 0, started.stderr
    assert "removing stale" in started.stdout
    assert redis.Redis(unix_socket_path=str(var / "redis" / "redis.sock")).ping()


def test_two_concurrent_starts_both_succeed(var: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["LAB_VAR_DIR"] = str(var)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ops.services", "start"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    # Exactly one of them initialised the cluster; the lock made the other wait.
    assert sum("initialising PostgreSQL" in out for out, _ in results) == 1
    assert postgres_answers(var) == 1


def test_it_refuses_to_start_on_a_full_disk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(services, "VAR", tmp_path)
    monkeypatch.setattr(services, "MIN_FREE_BYTES", 2**62)
    with pytest.raises(services.ServiceError, match="MiB free"):
        services._check_disk()


@pytest.mark.django_db
def test_it_creates_the_database_of_a_url_with_a_socket_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from urllib.parse import quote

    from django.db import connection

    params = connection.get_connection_params()
    name = f"instalab_urltest_{os.getpid()}"
    # The `?host=` form is how a URL names a unix socket (the embedded server's URLs do).
    url = f"postgresql://{params['user']}@/{name}?host={quote(str(params['host']))}"
    if params.get("port"):
        url += f"&port={params['port']}"
    monkeypatch.setenv("DATABASE_URL", url)
    conninfo = psycopg.conninfo.make_conninfo(
        "", **{k: v for k, v in params.items() if k in ("host", "port", "user")}, dbname="postgres"
    )
    try:
        services.ensure_external_database()
        services.ensure_external_database()  # idempotent
        with psycopg.connect(conninfo) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            assert row.fetchone() == (1,)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
