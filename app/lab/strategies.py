"""The strategy switch: which variant of a hot path serves this request.

The catalogue is the lab's contract (docs/architecture.md). Each domain app implements its
variants side by side in its own ``strategies.py`` and asks :func:`choose` which one to run.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from app.core import degrade
from app.lab import stats

# path -> strategies, the default (the best one) first.
CATALOGUE: Mapping[str, tuple[str, ...]] = {
    "feed": ("cached", "optimized", "naive"),
    "explore": ("als", "popular"),
    "search": ("indexed", "cached", "naive"),
    "inbox": ("cached", "optimized", "naive"),
}
# The strategies that read Redis, and the PostgreSQL twin that serves while it is down
# (app/core/degrade.py); the request's Server-Timing then names the twin.
WITHOUT_REDIS: Mapping[tuple[str, str], str] = {
    ("feed", "cached"): "optimized",
    ("explore", "als"): "popular",
    ("search", "cached"): "indexed",
    ("inbox", "cached"): "optimized",
}
HEADER = "X-Lab-Strategy"
MAX_HEADER_LENGTH = 200


class StrategyError(ValueError):
    """An X-Lab-Strategy header names an unknown path or strategy."""


def default(path: str) -> str:
    return CATALOGUE[path][0]


def parse_header(value: str) -> dict[str, str]:
    """Parse ``feed=naive,search=indexed`` into a mapping, validating every name."""
    if len(value) > MAX_HEADER_LENGTH:
        raise StrategyError(f"{HEADER} is longer than {MAX_HEADER_LENGTH} characters")
    chosen: dict[str, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        path, sep, name = (part.strip() for part in item.partition("="))
        if not sep or path not in CATALOGUE:
            known = ", ".join(CATALOGUE)
            raise StrategyError(f"unknown lab path {path!r} in {HEADER}; known: {known}")
        if name not in CATALOGUE[path]:
            known = ", ".join(CATALOGUE[path])
            raise StrategyError(f"unknown strategy {name!r} for {path}; known: {known}")
        chosen[path] = name
    return chosen


def choose(path: str, *, override: str | None = None) -> str:
    """The strategy for ``path`` in this request, recorded for the Server-Timing header.

    ``override`` is for benchmarks and tests that call selectors directly.
    """
    request_stats = stats.current()
    name = override
    if name is None and request_stats is not None and settings.LAB_EXPERIMENTS:
        name = request_stats.requested.get(path)
    if name is None:
        name = default(path)
    elif name not in CATALOGUE[path]:
        raise StrategyError(f"unknown strategy {name!r} for {path}")
    if (path, name) in WITHOUT_REDIS and not degrade.redis_up():
        name = WITHOUT_REDIS[path, name]
    if request_stats is not None:
        request_stats.used[path] = name
    return name
