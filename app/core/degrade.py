"""Redis is a cache and a bus here, never the only copy: when it fails, requests go on.

One breaker per process. The first Redis error a request meets opens it for ``OPEN_FOR``
seconds; while it is open every Redis-backed path takes its PostgreSQL twin at once, so an
outage costs no request a connect timeout. The first caller after that window half-opens it:
it replays the effects that writes deferred during the outage (app/core/outbox.py) and, if
Redis took them, closes the breaker. Caches therefore never serve a copy that a write made
during the outage should have dropped, in any process that saw the outage.

PostgreSQL errors are not retried: a request that cannot reach the database fails fast with
503 (the pool waits ``DB_POOL_TIMEOUT`` at most; see app/settings.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django_redis.exceptions import ConnectionInterrupted
from redis._parsers import _HiredisParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Unreachable, timed out, still loading its dataset (a ConnectionError), or a replica that
# refuses writes. Any other RedisError is a bug in our own commands and stays a bug.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    ConnectionInterrupted,
)
DB_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


class OutageAwareParser(_HiredisParser):
    """redis-py's hiredis reply parser (hiredis is pinned), except that a script refused by a
    read-only replica raises ``ReadOnlyError`` as a plain command does. Redis reports that
    refusal inside an ``ERR Error running script ... -READONLY ...`` reply, which redis-py
    reads as a generic ``ResponseError``: a failover would then look like a bug (a 500)
    instead of an outage. Set as the caches' ``PARSER_CLASS`` (app/settings.py)."""

    @classmethod
    def parse_error(cls, response: str) -> ResponseError:
        error: ResponseError = super().parse_error(response)  # type: ignore[no-untyped-call]
        if not isinstance(error, ReadOnlyError) and "READONLY" in response:
            return ReadOnlyError(response)
        return error


OPEN_FOR = 1.0
RETRY_AFTER = 1


class Breaker:
    """Closed (use Redis), open (skip it until ``open_until``), or half-open (the one caller
    that got past ``open_until`` runs the recovery before anyone uses Redis again)."""

    def __init__(self, *, open_for: float) -> None:
        self.open_for = open_for
        self.open_until = 0.0
        self.trips = 0
        self._lock = threading.Lock()
        self._probing = False
        self._recover: Callable[[], None] | None = None

    def on_recover(self, callback: Callable[[], None]) -> None:
        self._recover = callback

    def trip(self, exc: BaseException | None = None) -> None:
        with self._lock:
            if time.monotonic() < self.open_until:
                return
            self.open_until = time.monotonic() + self.open_for
            self.trips += 1
        logger.warning("redis unavailable (%s); serving from PostgreSQL", type(exc).__name__)

    def is_closed(self) -> bool:
        """Whether Redis may be used now. Cheap on the hot path: one attribute read."""
        if not self.open_until:
            return True
        if time.monotonic() < self.open_until:
            return False
        with self._lock:
            if self._probing or not self.open_until:
                # Another thread is replaying; until it is done, stay on PostgreSQL.
                return not self.open_until
            self._probing = True
        try:
            if self._recover is not None:
                self._recover()
        except (*REDIS_ERRORS, *DB_ERRORS) as exc:
            # Still down (or the outbox is unreachable): another window on PostgreSQL.
            with self._lock:
                self._probing = False
                self.open_until = time.monotonic() + self.open_for
            logger.warning("redis still unavailable (%s)", type(exc).__name__)
            return False
        except BaseException:
            with self._lock:
                self._probing = False
            raise
        with self._lock:
            self._probing = False
            self.open_until = 0.0
        logger.warning("redis is back; caches in use again")
        return True

    def reset(self) -> None:
        """Tests only: forget any outage."""
        with self._lock:
            self.open_until = 0.0
            self._probing = False


breaker = Breaker(open_for=OPEN_FOR)


def redis_up() -> bool:
    """Whether this process should use Redis right now."""
    return breaker.is_closed()


def redis_failed(exc: BaseException) -> None:
    """Record a Redis error met by a caller that then took its fallback."""
    breaker.trip(exc)
