"""Redis key names for code that talks to Redis directly (sorted sets, scripts, pipelines)."""

from __future__ import annotations

from django.conf import settings


def raw_key(area: str, *parts: object) -> str:
    """``<REDIS_KEY_PREFIX>:<area>:<part>:...``: under the same prefix as the cache's own keys,
    so one prefix isolates a lab database or a test run."""
    return ":".join([settings.REDIS_KEY_PREFIX, area, *map(str, parts)])
