"""Read replicas: a request's reads go to a caught-up standby, every write to the primary.

The rules (docs/scaling.md):

- **Which reads.** A request's reads go to a replica until the request first writes; from
  its first write on, and inside any transaction on the primary, they go to the primary (a
  service's read-modify-write must see its own write). Everything outside an HTTP request
  (sockets, jobs, commands) reads the primary.
- **Read-your-writes.** The response of a request that wrote carries the primary's WAL
  position after the write in the ``lab_lsn`` cookie. The client's later reads use a
  replica only once that replica has replayed past it (``pg_last_wal_replay_lsn()``); until
  then they read the primary. The position is ``pg_current_wal_insert_lsn()``, not
  ``pg_current_wal_lsn()``: with ``synchronous_commit = off`` a commit record can still sit
  in the WAL buffers, past the written position, and a replica at that position would not
  hold the write yet.
- **No round trip on the hot path.** Each process keeps every replica's replay position in
  memory, refreshed by one daemon thread every ``REPLICA_REFRESH_SECONDS`` on its own
  connections. A request compares two integers.
- **Lagging or down.** A replica more than ``REPLICA_MAX_LAG_BYTES`` behind the primary, or
  one the monitor cannot reach, is skipped. A query that fails on a replica marks it down and
  runs again on the primary (app/core/postgres/base.py), so a replica stopped mid-load costs
  no error.

The LSN arithmetic: ``X/Y`` is two hexadecimal halves of a 64-bit byte position.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

COOKIE = "lab_lsn"
# A WITH statement writes when one of its parts does.
_WRITING = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
# How long a replica that failed stays skipped before the monitor's next look decides.
DOWN_SECONDS = 1.0


def is_read(sql: str) -> bool:
    """Whether a statement only reads: a SELECT, or a WITH none of whose parts writes."""
    head = sql.lstrip()[:4].upper()
    if head == "SELE":
        return True
    return head == "WITH" and _WRITING.search(sql) is None


def lsn_parse(text: str) -> int:
    """``16/B374D848`` as a byte position; ValueError on anything else."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low or len(high) > 8 or len(low) > 8:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_format(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def replica_aliases() -> tuple[str, ...]:
    return tuple(settings.DATABASE_REPLICAS)


# --- what each process knows about its replicas -------------------------------------------


@dataclasses.dataclass
class ReplicaState:
    """The monitor's last look at one replica (read by requests without a lock: each field is
    replaced whole, and a request tolerates a look one refresh old)."""

    replayed: int = 0
    behind: int = 0
    up: bool = False
    down_until: float = 0.0
    checked_at: float = 0.0

    def usable(self, *, since: int, max_lag: int, now: float) -> bool:
        return (
            self.up and now >= self.down_until and self.behind <= max_lag and self.replayed >= since
        )


class Monitor:
    """One daemon thread per process: every ``interval`` it reads the primary's WAL position
    and each replica's replay position on connections of its own."""

    def __init__(self, *, primary: str, replicas: dict[str, str], interval: float) -> None:
        self.primary_dsn = primary
        self.replica_dsns = replicas
        self.interval = interval
        self.states = {alias: ReplicaState() for alias in replicas}
        self._connections: dict[str, psycopg.Connection[Any]] = {}
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def ensure_running(self) -> None:
        """Start the thread in this process (again after a fork: threads do not survive it)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._connections = {}
        self._stop.clear()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="replica-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in self._connections.values():
            conn.close()
        self._connections = {}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()

    def _position(self, key: str, dsn: str, sql: str) -> int | None:
        conn = self._connections.get(key)
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(dsn, autocommit=True, connect_timeout=2)
                self._connections[key] = conn
            row = conn.execute(sql).fetchone()
        except psycopg.Error:
            if conn is not None:
                conn.close()
            self._connections.pop(key, None)
            return None
        return lsn_parse(row[0]) if row and row[0] else None

    def refresh(self) -> None:
        primary = self._position(
            DEFAULT_DB_ALIAS, self.primary_dsn, "SELECT pg_current_wal_insert_lsn()"
        )
        now = time.monotonic()
        for alias, dsn in self.replica_dsns.items():
            replayed = self._position(alias, dsn, "SELECT pg_last_wal_replay_lsn()")
            old = self.states[alias]
            if replayed is None:
                if old.up:
                    log.warning("read replica %s is unreachable: reads go to the primary", alias)
                self.states[alias] = ReplicaState(up=False, checked_at=now)
                continue
            if not old.up:
                log.info("read replica %s is up at %s", alias, lsn_format(replayed))
            behind = max(0, primary - replayed) if primary is not None else old.behind
            self.states[alias] = dataclasses.replace(
                old, replayed=replayed, behind=behind, up=True, checked_at=now
            )

    def failed(self, alias: str) -> None:
        """A query on ``alias`` failed: skip it until the monitor has looked again."""
        state = self.states.get(alias)
        if state is not None:
            state.down_until = time.monotonic() + DOWN_SECONDS
            log.warning("read replica %s failed a query: reads go to the primary", alias)


_monitor: Monitor | None = None
_monitor_lock = threading.Lock()


def _dsn(alias: str) -> str:
    params = connections[alias].get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("options", None)
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v is not None})


def monitor() -> Monitor | None:
    """This process's monitor, started on first use; None without replicas."""
    global _monitor
    aliases = replica_aliases()
    if not aliases:
        return None
    if _monitor is None:
        with _monitor_lock:
            if _monitor is None:
                _monitor = Monitor(
                    primary=_dsn(DEFAULT_DB_ALIAS),
                    replicas={alias: _dsn(alias) for alias in aliases},
                    interval=float(settings.REPLICA_REFRESH_SECONDS),
                )
    _monitor.ensure_running()
    return _monitor


def replica_failed(alias: str) -> None:
    if _monitor is not None:
        _monitor.failed(alias)


# --- routing --------------------------------------------------------------------------------


@dataclasses.dataclass
class Scope:
    """One request's routing: the position its replica must have replayed, whether it has
    written yet, and the replica it settled on (one per request, so its reads see one
    snapshot's timeline)."""

    since: int = 0
    wrote: bool = False
    chosen: str | None = None
    decided: bool = False

    def alias(self, states: dict[str, ReplicaState], *, max_lag: int) -> str | None:
        if self.wrote:
            return None
        if not self.decided:
            now = time.monotonic()
            usable = [
                alias
                for alias, state in states.items()
                if state.usable(since=self.since, max_lag=max_lag, now=now)
            ]
            self.chosen = random.choice(usable) if usable else None
            self.decided = True
        elif self.chosen is not None and time.monotonic() < states[self.chosen].down_until:
            self.chosen = None  # it failed during this request: the rest reads the primary
        return self.chosen


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("replica_scope", default=None)


def read_alias() -> str | None:
    """The replica this request's next read goes to, or None for the primary."""
    scope = _scope.get()
    if scope is None or _monitor is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None
    return scope.alias(_monitor.states, max_lag=int(settings.REPLICA_MAX_LAG_BYTES))


class ReplicaRouter:
    """Django's database router: reads to :func:`read_alias`, writes and migrations to the
    primary. Every alias holds the same data, so relations between them are allowed."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return read_alias() or DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def client_position(request: HttpRequest) -> int:
    """The WAL position of the client's last write (0: none, or a cookie that is not one)."""
    raw = request.COOKIES.get(COOKIE, "")
    try:
        return lsn_parse(raw) if raw else 0
    except ValueError:
        return 0


def reading() -> Any:
    """The connection a raw SQL read goes to: this request's replica, or the primary."""
    return connections[read_alias() or DEFAULT_DB_ALIAS]


# The one statement the routing itself sends, after a request's write: it reads no table, so
# the lab counts it apart from the app's reads (app/lab/middleware.py).
POSITION_SQL = "SELECT pg_current_wal_insert_lsn()"


def primary_position() -> int:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(POSITION_SQL)
        row = cursor.fetchone()
    return lsn_parse(row[0])


class ReplicaMiddleware:
    """Opens the request's routing scope and, after a write, hands the client its position."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not replica_aliases():
            raise MiddlewareNotUsed("no DATABASE_REPLICA_URLS")
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        monitor()
        scope = Scope(since=client_position(request))
        token = _scope.set(scope)

        def watch(
            execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
        ) -> Any:
            # Flagged before it runs: the statement's own reads are the primary's anyway.
            if not scope.wrote and not is_read(sql):
                scope.wrote = True
            return execute(sql, params, many, context)

        try:
            with connections[DEFAULT_DB_ALIAS].execute_wrapper(watch):
                response = self.get_response(request)
        finally:
            _scope.reset(token)
        if scope.wrote:
            self._remember(request, response)
        return response

    @staticmethod
    def _remember(request: HttpRequest, response: HttpResponse) -> None:
        try:
            position = primary_position()
        except Exception:  # the write is done; a missing cookie only costs replica reads
            log.exception("could not read the primary's WAL position")
            return
        position = max(position, client_position(request))
        response.set_cookie(
            COOKIE,
            lsn_format(position),
            max_age=int(settings.REPLICA_PIN_SECONDS),
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )


def aliases_in_use() -> Sequence[str]:
    """Every alias a request may query: the primary and the replicas."""
    return (DEFAULT_DB_ALIAS, *replica_aliases())
