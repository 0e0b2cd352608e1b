"""A django-redis client that counts hits and misses into the current request's stats, and
the key namespace for code that talks to Redis directly."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_redis.client import DefaultClient

from app.lab import stats

_MISSING = object()


class CountingClient(DefaultClient):
    def get(
        self, key: Any, default: Any = None, version: int | None = None, client: Any = None
    ) -> Any:
        value = super().get(key, default=_MISSING, version=version, client=client)
        request_stats = stats.current()
        if value is _MISSING:
            if request_stats:
                request_stats.cache_misses += 1
            return default
        if request_stats:
            request_stats.cache_hits += 1
        return value

    def get_many(self, keys: Any, version: int | None = None, client: Any = None) -> Any:
        found = super().get_many(keys, version=version, client=client)
        request_stats = stats.current()
        if request_stats:
            keys = list(keys)
            request_stats.cache_hits += len(found)
            request_stats.cache_misses += len(keys) - len(found)
        return found


def raw_key(area: str, *parts: object) -> str:
    """``<REDIS_KEY_PREFIX>:<area>:<part>:...`` for keys used without the Django cache (sorted
    sets, scripts, pipelines): under the same prefix as the cache's own keys, so one prefix
    isolates a lab database or a test run."""
    return ":".join([settings.REDIS_KEY_PREFIX, area, *map(str, parts)])
