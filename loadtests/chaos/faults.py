"""The chaos lab's own PostgreSQL and Redis, and the four faults it injects into them and into
the app it started.

The servers are ops/services.py's embedded ones, started with ``LAB_VAR_DIR`` pointing at
``var/chaos/``: their own data directory, PostgreSQL socket directory and Redis socket, so the
developer's servers under ``var/`` are never touched. Each fault has ``inject()`` and
``restore()``; each returns what it did, for the report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import redis

from ops import services

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR = ROOT / "var" / "chaos"
SCENARIOS = ("worker-kill", "redis-outage", "postgres-outage", "redis-readonly")
STOP_TIMEOUT = 10.0
# A killed granian worker is replaced within a second; longer than this is a finding.
RESPAWN_TIMEOUT = 15.0


class FaultError(RuntimeError):
    """A fault could not be injected or restored (the run is then not a measurement)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


class PrivateServices:
    """`python -m ops.services` on a var directory of the chaos lab's own."""

    def __init__(self, var_dir: Path = DEFAULT_VAR) -> None:
        self.var_dir = var_dir.resolve()
        self.pg_dir = self.var_dir / "postgres"
        self.redis_socket = self.var_dir / "redis" / "redis.sock"
        self.redis_pidfile = self.var_dir / "redis" / "redis.pid"

    def env(self) -> dict[str, str]:
        """The environment under which the app, the seeder and manage.py use these servers."""
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env["LAB_VAR_DIR"] = str(self.var_dir)
        return env

    def _services(self, action: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "ops.services", action],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise FaultError(f"services {action} failed: {(result.stderr or result.stdout)[-800:]}")
        return result.stdout

    def start(self) -> None:
        """Start whichever of the two is not running (idempotent, like `make services`)."""
        self._services("start")

    def stop(self) -> None:
        self._services("stop")

    def urls(self) -> dict[str, str]:
        """DATABASE_URL and REDIS_URL of these servers (for the CPU meter)."""
        lines = self._services("env").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def redis_client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.redis_socket), socket_timeout=5)

    def redis_pid(self) -> int | None:
        try:
            pid = int(self.redis_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def pg_stop_immediate(self) -> None:
        """pg_ctl stop -m immediate: every backend dies at once, as in a crash."""
        argv = [services.pg_bin("pg_ctl"), "-D", str(self.pg_dir), "-w", "-t", "30"]
        subprocess.run(
            [*argv, "stop", "-m", "immediate"],
            check=True,
            user=services.pg_user(),
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def pg_socket_dir(self) -> Path:
        """Line 5 of postmaster.pid: where the running server listens."""
        lines = (self.pg_dir / "postmaster.pid").read_text().splitlines()
        return Path(lines[4])

    def pg_start(self, *, socket_dir: Path) -> None:
        """pg_ctl start as ops/services.py starts it, without a Python start-up around it
        (seconds on a busy box, which would count as outage)."""
        argv = [services.pg_bin("pg_ctl"), "-D", str(self.pg_dir), "-w", "-t", "60"]
        argv += ["-l", str(self.var_dir / "postgres.log"), "-o", f"-h '' -k {socket_dir}"]
        subprocess.run(
            [*argv, "start"],
            check=True,
            user=services.pg_user(),
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def redis_start(self) -> int:
        """redis-server on the configuration services.py wrote, on the same socket."""
        conf = self.var_dir / "redis" / "redis.conf"
        for stale in (self.redis_socket, self.redis_pidfile):
            stale.unlink(missing_ok=True)
        subprocess.run([services.redis_binary(), str(conf)], check=True)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.exceptions.RedisError):
                pid = self.redis_pid()
                if pid and self.redis_client().ping():
                    return pid
            time.sleep(0.02)
        raise FaultError(f"Redis did not answer on {self.redis_socket}")

    def pg_running(self) -> bool:
        try:
            pid = int((self.pg_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return False
        return _pid_alive(pid)


class Fault:
    """A fault and its undoing; ``instant`` faults restore nothing (the system must)."""

    name = ""
    instant = False

    def __init__(self, *, private: PrivateServices, app_pid: int) -> None:
        self.private = private
        self.app_pid = app_pid

    def inject(self) -> dict[str, Any]:
        raise NotImplementedError

    def restore(self) -> dict[str, Any]:
        return {}


class RedisOutage(Fault):
    """SIGKILL the Redis server (no shutdown, no goodbye to its clients), then start it again
    on the same socket: empty, as a crashed cache without persistence comes back."""

    name = "redis-outage"

    def inject(self) -> dict[str, Any]:
        pid = self.private.redis_pid()
        if pid is None:
            raise FaultError("the chaos lab's Redis is not running")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"killed_redis_pid": pid}

    def restore(self) -> dict[str, Any]:
        return {"redis_pid": self.private.redis_start()}


class RedisReadonly(Fault):
    """REPLICAOF a master that does not exist: Redis keeps serving reads and refuses every
    write with READONLY, as a primary demoted in a failover does; REPLICAOF NO ONE restores."""

    name = "redis-readonly"

    def inject(self) -> dict[str, Any]:
        port = free_port()
        client = self.private.redis_client()
        client.execute_command("REPLICAOF", "127.0.0.1", str(port))
        try:
            client.set("chaos:probe", "1")
        except redis.exceptions.ReadOnlyError:
            return {"replicaof": f"127.0.0.1:{port}", "writes": "refused (READONLY)"}
        raise FaultError("Redis still accepts writes after REPLICAOF")

    def restore(self) -> dict[str, Any]:
        client = self.private.redis_client()
        client.execute_command("REPLICAOF", "NO", "ONE")
        client.delete("chaos:probe")
        return {"replicaof": "no one"}


class PostgresOutage(Fault):
    """pg_ctl stop -m immediate, then start it again (crash recovery included)."""

    name = "postgres-outage"

    def inject(self) -> dict[str, Any]:
        self.socket_dir = self.private.pg_socket_dir()
        self.private.pg_stop_immediate()
        if self.private.pg_running():
            raise FaultError("PostgreSQL is still running after pg_ctl stop")
        return {"pg_ctl": "stop -m immediate"}

    def restore(self) -> dict[str, Any]:
        self.private.pg_start(socket_dir=self.socket_dir)
        return {"postgres": "started"}


def granian_workers(app_pid: int) -> tuple[int | None, list[int]]:
    """The granian server under the app runner, and its worker processes."""
    try:
        children = psutil.Process(app_pid).children()
    except psutil.Error:
        return None, []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "granian" in " ".join(child.cmdline()):
                return child.pid, sorted(p.pid for p in child.children())
    return None, []


class WorkerKill(Fault):
    """SIGKILL one granian HTTP worker; granian respawns it (--respawn-failed-workers) and the
    app runner supervises granian itself. Nothing is restored by the lab."""

    name = "worker-kill"
    instant = True

    def inject(self) -> dict[str, Any]:
        server, workers = granian_workers(self.app_pid)
        if server is None or not workers:
            raise FaultError("no granian worker found under the app (is SERVER=split?)")
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        detail: dict[str, Any] = {"killed_worker_pid": victim, "workers_before": len(workers)}
        while time.monotonic() - killed < RESPAWN_TIMEOUT:
            server_now, current = granian_workers(self.app_pid)
            if victim not in current and len(current) >= len(workers):
                detail["respawned_after_s"] = round(time.monotonic() - killed, 2)
                detail["granian_restarted"] = server_now != server
                return detail
            time.sleep(0.05)
        detail["respawned_after_s"] = None
        return detail


FAULTS: dict[str, type[Fault]] = {
    cls.name: cls for cls in (WorkerKill, RedisOutage, PostgresOutage, RedisReadonly)
}
