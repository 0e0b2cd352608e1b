"""A django-redis client that counts hits and misses into the current request's stats and
degrades to a miss when Redis is down, and the key namespace for code that talks to Redis
directly."""

from __future__ import annotations

from typing import Any

from django_redis.client import DefaultClient

from app.core import degrade

# Re-exported: where the apps have always imported it from.
from app.core.keys import raw_key as raw_key
from app.lab import stats

_MISSING = object()


class CountingClient(DefaultClient):
    """Reads are a miss and fills a no-op while Redis is down (the breaker in
    app/core/degrade.py): a cache must never fail a request. Deletes still raise, so that a
    write's invalidation is deferred by the outbox (app/core/outbox.py), never lost."""

    def get(
        self, key: Any, default: Any = None, version: int | None = None, client: Any = None
    ) -> Any:
        if not degrade.redis_up():
            return default
        try:
            value = super().get(key, default=_MISSING, version=version, client=client)
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
            return default
        request_stats = stats.current()
        if value is _MISSING:
            if request_stats:
                request_stats.cache_misses += 1
            return default
        if request_stats:
            request_stats.cache_hits += 1
        return value

    def get_many(self, keys: Any, version: int | None = None, client: Any = None) -> Any:
        if not degrade.redis_up():
            return {}
        try:
            found = super().get_many(keys, version=version, client=client)
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
            return {}
        request_stats = stats.current()
        if request_stats:
            keys = list(keys)
            request_stats.cache_hits += len(found)
            request_stats.cache_misses += len(keys) - len(found)
        return found

    def set(self, *args: Any, **kwargs: Any) -> bool:
        if not degrade.redis_up():
            return False
        try:
            return bool(super().set(*args, **kwargs))
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
            return False

    def add(self, *args: Any, **kwargs: Any) -> bool:
        # Adds take locks: "not added" would read as "someone else holds it", so an outage
        # raises here instead, and the caller's fallback (or the request's retry) takes over.
        return bool(super().set(*args, nx=True, **kwargs))
