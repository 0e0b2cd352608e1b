"""Where the embedded PostgreSQL and Redis under var/ listen, and their URLs.

Settings read it to point the app at them when DATABASE_URL or REDIS_URL is unset; the process
manager that starts them (ops/services.py) reads it too, so both name the same sockets. Free of
Django imports and of any process management: it only reads paths and postmaster.pid.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VAR = Path(os.environ.get("LAB_VAR_DIR", ROOT / "var")).resolve()
PG_DIR = VAR / "postgres"
REDIS_DIR = VAR / "redis"
REDIS_SOCKET = REDIS_DIR / "redis.sock"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
DATABASE_NAME = "instalab"


def embedded_postgres_enabled() -> bool:
    return not os.environ.get("DATABASE_URL")


def embedded_redis_enabled() -> bool:
    return not os.environ.get("REDIS_URL")


def embedded_enabled() -> bool:
    """Some server is embedded: each one is used only when its URL is not set."""
    return embedded_postgres_enabled() or embedded_redis_enabled()


@dataclass(frozen=True)
class PostmasterStatus:
    pid: int
    socket_dir: Path
    port: int
    ready: bool


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not a server.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def postmaster_status() -> PostmasterStatus | None:
    """Parse postmaster.pid; None when no live server owns it."""
    pidfile = PG_DIR / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8:
        return None
    pid = int(lines[0])
    if not pid_alive(pid):
        return None
    return PostmasterStatus(
        pid=pid,
        socket_dir=Path(lines[4]),
        port=int(lines[3]),
        ready=lines[7].strip() == "ready",
    )


def choose_socket_dir() -> Path:
    """Where a new server will listen: PG_DIR, or /tmp for a checkout too deep for it."""
    # A unix socket path is limited to 107 bytes; deep checkouts fall back to /tmp.
    if len(str(PG_DIR / ".s.PGSQL.5432")) < 100:
        return PG_DIR
    digest = abs(hash(str(PG_DIR))) % 10**8
    return Path(f"/tmp/instalab-pg-{digest}")


def pg_socket_dir() -> Path:
    """Where the embedded server listens; stable across restarts, so settings can read it."""
    status = postmaster_status()
    return status.socket_dir if status else choose_socket_dir()


def database_url() -> str:
    status = postmaster_status()
    port = status.port if status else 5432
    return f"postgres://postgres@/{DATABASE_NAME}?host={pg_socket_dir()}&port={port}"


def replica_dir(number: int) -> Path:
    """The data folder of the embedded primary's ``number``-th hot standby (ops/replica.py)."""
    return VAR / f"postgres-replica{number}"


def replica_port(number: int) -> int:
    return 5432 + number


def replica_socket_dir(number: int) -> Path:
    """The standby's own folder, or /tmp for a checkout too deep for a unix socket path."""
    folder = replica_dir(number)
    if len(str(folder / f".s.PGSQL.{replica_port(number)}")) < 100:
        return folder
    # crc32, not hash(): the name must be the same in every process.
    return Path(f"/tmp/instalab-pg-replica{number}-{zlib.crc32(str(folder).encode()):08x}")


def replica_url(number: int) -> str:
    return (
        f"postgres://postgres@/{DATABASE_NAME}"
        f"?host={replica_socket_dir(number)}&port={replica_port(number)}"
    )


def redis_url(db: int = 0) -> str:
    return f"unix://{REDIS_SOCKET}?db={db}"
