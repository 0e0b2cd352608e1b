"""Per-request counters (DB queries, cache hits, strategies) that feed the Server-Timing header."""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    started: float = field(default_factory=time.perf_counter)
    # CPU of the serving thread (time.thread_time): what this request cost the app, free of
    # the time it spent waiting on PostgreSQL, Redis or the GIL.
    cpu_started: float = field(default_factory=time.thread_time)
    db_queries: int = 0
    db_seconds: float = 0.0
    # Of db_queries, the reads (SELECT or WITH), and those a read replica answered
    # (app/core/replicas.py): the primary's share of reads is what replicas are judged by.
    db_reads: int = 0
    replica_queries: int = 0
    # The write position read for the client's cookie after a write: not one of db_reads.
    replica_positions: int = 0
    # Whether replicas are configured: then every response says how many reads they took.
    replicas: bool = False
    cache_hits: int = 0
    cache_misses: int = 0
    # Strategy overrides asked for by X-Lab-Strategy, and the strategies actually used.
    requested: dict[str, str] = field(default_factory=dict)
    used: dict[str, str] = field(default_factory=dict)

    def server_timing(self) -> str:
        app_ms = (time.perf_counter() - self.started) * 1000
        cpu_ms = (time.thread_time() - self.cpu_started) * 1000
        parts = [
            f"app;dur={app_ms:.1f}",
            f"cpu;dur={cpu_ms:.2f}",
            f'db;dur={self.db_seconds * 1000:.1f};desc="{self.db_queries} queries"',
            f'cache;desc="{self.cache_hits} hit {self.cache_misses} miss"',
        ]
        if self.replicas:
            parts.append(
                f'replica;desc="{self.replica_queries} of {self.db_reads} reads, '
                f'{self.replica_positions} position"'
            )
        if self.used:
            chosen = ",".join(f"{path}={name}" for path, name in sorted(self.used.items()))
            parts.append(f'strategy;desc="{chosen}"')
        return ", ".join(parts)


_current: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "lab_request_stats", default=None
)


def current() -> RequestStats | None:
    return _current.get()


def begin() -> contextvars.Token[RequestStats | None]:
    return _current.set(RequestStats())


def end(token: contextvars.Token[RequestStats | None]) -> None:
    _current.reset(token)


def cache_count(*, hits: int = 0, misses: int = 0) -> None:
    """Count cache reads made outside the Django cache (raw Redis, scripts) into the current
    request's Server-Timing; nothing outside a request."""
    request_stats = _current.get()
    if request_stats is not None:
        request_stats.cache_hits += hits
        request_stats.cache_misses += misses
