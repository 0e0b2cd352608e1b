"""Server CPU time by role (app processes, PostgreSQL, Redis) over a measured window.

CPU seconds per request is the figure least moved by a noisy box: a neighbour's load stretches
latency and cuts throughput, but barely changes how much CPU our own processes spend on one
request. A :class:`CpuMeter` polls the process trees of the three roles, keeps the last CPU
times seen per pid (so a process that exits mid-run still counts up to its last poll), and
reports what each role spent between ``start()`` and ``stop()``.

The servers are found from what the app is configured with: the app by its runner's pid, and
PostgreSQL and Redis by the process listening on the URL's TCP port or unix socket. Every
backend a server forks is its child, so a tree covers it; other clients of a shared server
add their own work to it, which is why the lab's headline runs are made on a quiet box.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROLES = ("app", "postgres", "redis")
POLL_SECONDS = 0.5


def _listener(*, port: int | None = None, path: str | None = None) -> int | None:
    """The pid listening on a local TCP port or a unix socket path."""
    kind = "unix" if path else "tcp"
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind=kind):
            if conn.pid is None:
                continue
            if path and conn.laddr == path:
                return conn.pid
            if port and conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr[1] == port:
                return conn.pid
    return None


def _root_of(pid: int | None) -> int | None:
    """A server's top process: PostgreSQL's postmaster, not the backend that happens to listen."""
    if pid is None:
        return None
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        parent = process.parent()
        if parent is not None and parent.name() == process.name():
            return parent.pid
    return pid


def postgres_pid(database_url: str) -> int | None:
    """The postmaster behind ``postgres://...`` (TCP, or ``?host=/socket/dir``)."""
    parts = urllib.parse.urlsplit(database_url)
    query = urllib.parse.parse_qs(parts.query)
    port = parts.port or int(query.get("port", ["5432"])[0])
    host = query.get("host", [parts.hostname or ""])[0]
    if host.startswith("/"):
        return _root_of(_listener(path=str(Path(host) / f".s.PGSQL.{port}")))
    return _root_of(_listener(port=port))


def redis_pid(redis_url: str) -> int | None:
    """The redis-server behind ``redis://host:port`` or ``unix:///path.sock``."""
    parts = urllib.parse.urlsplit(redis_url)
    if parts.scheme == "unix":
        return _listener(path=parts.path)
    return _listener(port=parts.port or 6379)


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


@dataclass
class CpuMeter:
    """CPU seconds spent by each role's process tree between ``start()`` and ``stop()``."""

    roots: dict[str, int | None]
    # role -> pid -> (first CPU seconds seen inside the window, last seen)
    _seen: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    _baseline: dict[str, dict[int, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def for_servers(cls, *, app_pid: int | None, database_url: str, redis_url: str) -> CpuMeter:
        return cls(
            roots={
                "app": app_pid,
                "postgres": postgres_pid(database_url),
                "redis": redis_pid(redis_url),
            }
        )

    def _poll(self) -> dict[str, dict[int, float]]:
        now: dict[str, dict[int, float]] = {}
        for role, root in self.roots.items():
            found: dict[int, float] = {}
            for process in _tree(root):
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    found[process.pid] = times.user + times.system
            now[role] = found
        return now

    def _record(self, now: dict[str, dict[int, float]]) -> None:
        for role, found in now.items():
            seen = self._seen.setdefault(role, {})
            for pid, seconds in found.items():
                first = seen[pid][0] if pid in seen else seconds
                seen[pid] = (first, seconds)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._record(self._poll())

    def start(self) -> None:
        self._baseline = self._poll()
        self._seen = {}
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds per role over the window (a role whose server was not found: 0.0)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._record(self._poll())
        spent: dict[str, float] = {}
        for role in self.roots:
            baseline = self._baseline.get(role, {})
            total = 0.0
            for pid, (_, last) in self._seen.get(role, {}).items():
                # A pid born inside the window spent all of its CPU inside it.
                total += last - baseline.get(pid, 0.0)
            spent[role] = max(0.0, total)
        return spent

    def found(self) -> dict[str, bool]:
        return {role: pid is not None for role, pid in self.roots.items()}


def per_request_ms(spent: dict[str, float], requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request for each role, and their ``total``."""
    if requests <= 0:
        return {**dict.fromkeys(spent, 0.0), "total": 0.0}
    per = {role: round(seconds * 1000 / requests, 3) for role, seconds in spent.items()}
    per["total"] = round(sum(spent.values()) * 1000 / requests, 3)
    return per


def describe(per_ms: dict[str, float], roles: Iterable[str] = ROLES) -> str:
    """``app 1.20 + postgres 0.31 + redis 0.08 = 1.59 ms CPU per request``."""
    parts = " + ".join(f"{role} {per_ms.get(role, 0.0):.2f}" for role in roles)
    return f"{parts} = {per_ms.get('total', 0.0):.2f} ms CPU per request"
