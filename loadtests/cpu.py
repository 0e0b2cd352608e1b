"""Server CPU time by role (app processes, PostgreSQL, Redis) over a measured window.

CPU seconds per request is the figure least moved by a noisy box: a neighbour's load stretches
latency and cuts throughput, but barely changes how much CPU our own processes spend on one
request. A :class:`CpuMeter` reads the process tree of each role at ``start()`` and ``stop()``
and reports what the tree spent in between.

A tree's CPU is the sum, over its live processes, of their own CPU time and of their reaped
children's (``cutime``/``cstime``). When a PostgreSQL backend, a parallel worker or an
autovacuum worker exits, the kernel moves its CPU into the postmaster's children time, so a
process that lived and died between two readings is still counted, once. A thread polls the
trees meanwhile, only to see which PostgreSQL backends serve *another* database (their process
title names it): their CPU in the window is left out, so other clients of a shared server (a
test suite on its own database) do not inflate our figure. Shared background processes
(checkpointer, WAL writer, I/O workers) stay in.

The servers are found from what the app is configured with: the app by its runner's pid, and
PostgreSQL and Redis by the process listening on the URL's TCP port or unix socket.
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
# PostgreSQL's own processes, titled `postgres: <what>`: shared by every database.
PG_BACKGROUND = (
    "checkpointer",
    "background writer",
    "walwriter",
    "walsummarizer",
    "autovacuum launcher",
    "logical replication launcher",
    "io worker",
    "archiver",
    "stats collector",
    "walsender",
    "walreceiver",
    "startup",
)

# One process, across polls: a pid alone could be reused by a newer process.
Key = tuple[int, float]


def _listener(*, port: int | None = None, path: str | None = None) -> int | None:
    """The pid listening on a local TCP port or a unix socket path."""
    kind = "unix" if path else "tcp"
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind=kind):
            if conn.pid is None:
                continue
            if path and conn.laddr == path:
                return int(conn.pid)
            if port and conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr[1] == port:
                return int(conn.pid)
    return None


def _root_of(pid: int | None) -> int | None:
    """A server's top process: PostgreSQL's postmaster, not the backend that happens to listen."""
    if pid is None:
        return None
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        parent = process.parent()
        if parent is not None and parent.name() == process.name():
            return int(parent.pid)
    return pid


def database_name(database_url: str) -> str:
    """``postgres://u@h/instalab?...`` -> ``instalab``."""
    return urllib.parse.urlsplit(database_url).path.lstrip("/")


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


def pg_title_database(title: str) -> str | None:
    """The database a PostgreSQL process title works for; None for a shared process.

    ``postgres: postgres instalab [local] idle`` -> ``instalab``;
    ``postgres: autovacuum worker instalab`` -> ``instalab``; ``postgres: checkpointer`` -> None;
    ``postgres: 15/main: postgres instalab 127.0.0.1(5000) idle`` -> ``instalab``.
    """
    what = title.partition("postgres: ")[2].strip()
    # A server with cluster_name set (Debian's "15/main") puts it first: "15/main: postgres db".
    first, _, rest = what.partition(" ")
    if first.endswith(":"):
        what = rest.strip()
    if not what or what.startswith(PG_BACKGROUND) or what.startswith("parallel worker"):
        return None
    if what.startswith("autovacuum worker"):
        return what.removeprefix("autovacuum worker").strip() or None
    words = what.split()
    return words[1] if len(words) >= 3 else None


@dataclass(frozen=True)
class Reading:
    """One process at one poll: its own CPU, its reaped children's, and whom it works for."""

    seconds: float
    database: str | None = None
    children: float = 0.0


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_read(pid: int | None, *, titles: bool = False) -> dict[Key, Reading]:
    """Every live process of the tree under ``pid``; ``titles`` reads PostgreSQL's."""
    found: dict[Key, Reading] = {}
    for process in _tree(pid):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            found[(process.pid, process.create_time())] = Reading(
                times.user + times.system,
                _pg_database(process) if titles else None,
                times.children_user + times.children_system,
            )
    return found


def _pg_database(process: psutil.Process) -> str | None:
    # A zombie has CPU times but no title: it still counts, as a shared process.
    try:
        return pg_title_database(" ".join(process.cmdline()))
    except psutil.Error:
        return None


@dataclass
class CpuMeter:
    """CPU seconds spent by each role's process tree between ``start()`` and ``stop()``."""

    roots: dict[str, int | None]
    # The app's database: PostgreSQL backends of any other are left out.
    database: str | None = None
    # CPU seconds left out per role by the last stop() (other databases' backends).
    excluded: dict[str, float] = field(default_factory=dict)
    _start: dict[str, dict[Key, Reading]] = field(default_factory=dict)
    _last: dict[str, dict[Key, Reading]] = field(default_factory=dict)
    # role -> every process seen in the window -> its latest reading (exited ones included)
    _seen: dict[str, dict[Key, Reading]] = field(default_factory=dict)
    # role -> process serving another database -> (CPU at start or 0, last CPU seen)
    _foreign: dict[str, dict[Key, tuple[float, float]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def for_servers(cls, *, app_pid: int | None, database_url: str, redis_url: str) -> CpuMeter:
        return cls(
            roots={
                "app": app_pid,
                "postgres": postgres_pid(database_url),
                "redis": redis_pid(redis_url),
            },
            database=database_name(database_url) or None,
        )

    def _poll(self) -> dict[str, dict[Key, Reading]]:
        return {
            role: tree_read(root, titles=role == "postgres" and self.database is not None)
            for role, root in self.roots.items()
        }

    def _record(self, now: dict[str, dict[Key, Reading]]) -> None:
        for role, found in now.items():
            if found:  # an empty tree means the root died: keep what was last seen
                self._last[role] = found
            self._seen.setdefault(role, {}).update(found)
            foreign = self._foreign.setdefault(role, {})
            before = self._start.get(role, {})
            for key, reading in found.items():
                if reading.database is not None and reading.database != self.database:
                    first = before[key].seconds if key in before else 0.0
                    foreign[key] = (first, reading.seconds)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._record(self._poll())

    def start(self) -> None:
        self._start = self._poll()
        self._last, self._foreign, self._seen = {}, {}, {}
        self._record(self._start)
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
            left_out = sum(last - first for first, last in self._foreign.get(role, {}).values())
            self.excluded[role] = round(float(left_out), 3)
            spent[role] = max(0.0, self._spent(role) - left_out)
        return spent

    def _spent(self, role: str) -> float:
        """Own CPU of every process seen in the window (an exited one up to its last poll),
        plus the growth of reaped children's CPU in their parents, less what of it the
        exited processes seen here already account for. A process that exited but is not
        yet reaped counts up to its last poll, never below its starting point."""
        start, end, seen = (
            self._start.get(role, {}),
            self._last.get(role, {}),
            self._seen.get(role, {}),
        )
        own = sum(r.seconds - (start[k].seconds if k in start else 0.0) for k, r in seen.items())
        growth = sum(
            r.children - (start[k].children if k in start else 0.0) for k, r in end.items()
        )
        exited = sum(r.seconds for k, r in seen.items() if k not in end)
        return own + max(0.0, growth - exited)

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
