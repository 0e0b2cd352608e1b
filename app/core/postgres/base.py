"""Django's PostgreSQL backend with a gate in front of new connections.

During a PostgreSQL outage every request that needs the database would wait the pool's whole
timeout for a connection that cannot come, and on a few threads per worker those waits queue
behind each other: seconds per request. So the first failure closes a gate for ``OPEN_FOR``
seconds, during which connecting fails at once (a 503, app/core/middleware.py); then one
request at a time probes. Requests that need no SQL (a warm cached read) never touch it.

A read replica's connection (an alias of DATABASE_REPLICA_URLS) goes further: a query that
cannot connect, or fails on a connection the replica's shutdown broke, marks the replica down
(app/core/replicas.py) and runs again on the primary, so a replica stopped under load costs
the reads no error.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends import utils
from django.db.backends.postgresql import base

from app.core import replicas

OPEN_FOR = 0.5


class Gate:
    """Open (connect), shut until ``shut_until``, or probing (one caller tries; the others
    are refused until it is back)."""

    def __init__(self, *, open_for: float) -> None:
        self.open_for = open_for
        self.shut_until = 0.0
        self.probing = False
        self._lock = threading.Lock()

    def admit(self) -> bool:
        if not self.shut_until:
            return True
        with self._lock:
            if self.probing or time.monotonic() < self.shut_until:
                return False
            self.probing = True
            return True

    def is_shut(self) -> bool:
        """Refusing now (a read-only look: it never makes the caller the probe)."""
        return bool(self.shut_until) and time.monotonic() < self.shut_until

    def succeeded(self) -> None:
        if self.shut_until:
            with self._lock:
                self.shut_until = 0.0
                self.probing = False

    def failed(self) -> None:
        with self._lock:
            self.shut_until = time.monotonic() + self.open_for
            self.probing = False

    def reset(self) -> None:
        self.succeeded()


# One per database alias, shared by the threads of a process (each has its own wrapper).
_gates: dict[str, Gate] = {}
_gates_lock = threading.Lock()


def gate_for(alias: str) -> Gate:
    found = _gates.get(alias)
    if found is None:
        with _gates_lock:
            found = _gates.setdefault(alias, Gate(open_for=OPEN_FOR))
    return found


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        gate = gate_for(self.alias)
        if not gate.admit():
            raise psycopg.OperationalError("PostgreSQL is unavailable; retry shortly")
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError:
            gate.failed()
            raise
        gate.succeeded()
        return connection

    @functools.cached_property
    def is_replica(self) -> bool:
        # Once per connection object: every cursor asks, and the aliases are fixed when the
        # settings load.
        return self.alias in replicas.replica_aliases()

    def _cursor(self, name: str | None = None) -> Any:
        # Django's private cursor hooks, which django-stubs does not declare.
        if not self.is_replica:
            return super()._cursor(name)  # type: ignore[misc]
        try:
            return super()._cursor(name)  # type: ignore[misc]
        except (OperationalError, InterfaceError):
            replicas.replica_failed(self.alias)
            return self._prepare_cursor(_primary_cursor(name))  # type: ignore[attr-defined]

    def make_cursor(self, cursor: Any) -> Any:
        return FallbackCursor(cursor, self) if self.is_replica else super().make_cursor(cursor)

    def make_debug_cursor(self, cursor: Any) -> Any:
        if self.is_replica:
            return FallbackDebugCursor(cursor, self)
        return super().make_debug_cursor(cursor)


def _primary_cursor(name: str | None = None) -> Any:
    """A raw cursor on the primary's connection, for a read its replica could not serve."""
    primary = connections[DEFAULT_DB_ALIAS]
    primary.ensure_connection()
    with primary.wrap_database_errors:
        return primary.create_cursor(name)


class FallbackCursor(utils.CursorWrapper):
    """A replica's cursor: a statement that fails there runs once more on the primary."""

    def _execute(self, sql: str, params: Any, *ignored: Any) -> Any:
        try:
            return super()._execute(sql, params, *ignored)  # type: ignore[misc]
        except (OperationalError, InterfaceError):
            if self.db.in_atomic_block:
                raise
            replicas.replica_failed(self.db.alias)
            self.cursor = _primary_cursor()
            return super()._execute(sql, params, *ignored)  # type: ignore[misc]


class FallbackDebugCursor(utils.CursorDebugWrapper, FallbackCursor):
    """The same under DEBUG, with Django's query log."""
