"""The strategy switch: which variant of a hot path serves this request.

The app that serves a hot path declares it in its own ``strategies.py``: the variants as
``STRATEGIES: Mapping[str, <the path's Protocol>]``, the default (the best one) first, and
``HOT_PATH = HotPath(name, STRATEGIES, without_redis=...)``. The catalogue is those
declarations, found in every installed app of the project when it is first read, so the lab
names no feature app and nobody edits a list here (docs/architecture.md). A selector asks
:func:`choose` which strategy runs, then calls it from its ``STRATEGIES``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Generic, TypeVar

import django
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import module_has_submodule

from app.core import degrade
from app.lab import stats

HEADER = "X-Lab-Strategy"
MAX_HEADER_LENGTH = 200
# The module each app declares its hot path in, and the name of the declaration.
MODULE = "strategies"
DECLARATION = "HOT_PATH"

S = TypeVar("S")


class StrategyError(ValueError):
    """An X-Lab-Strategy header names an unknown path or strategy."""


class DeclarationError(ImproperlyConfigured):
    """A hot path is declared wrongly, or twice: the process refuses to serve with it."""


@dataclass(frozen=True)
class HotPath(Generic[S]):
    """One hot path, as the app that serves it declares it.

    ``strategies`` maps each name to its implementation, the default (the best one) first.
    ``without_redis`` maps each strategy that reads Redis to its PostgreSQL twin, which serves
    while Redis is down (app/core/degrade.py); the request's Server-Timing then names the twin.
    """

    name: str
    strategies: Mapping[str, S]
    without_redis: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.strategies) < 2:
            raise DeclarationError(f"hot path {self.name!r} needs two strategies to compare")
        for reader, twin in self.without_redis.items():
            for name in (reader, twin):
                if name not in self.strategies:
                    raise DeclarationError(
                        f"hot path {self.name!r}: without_redis names {name!r}, which is not "
                        f"one of its strategies ({', '.join(self.strategies)})"
                    )
            if twin in self.without_redis:
                raise DeclarationError(
                    f"hot path {self.name!r}: {twin!r}, the twin of {reader!r} without Redis, "
                    "reads Redis itself"
                )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.strategies)

    @property
    def default(self) -> str:
        return next(iter(self.strategies))


class Catalogue(Mapping[str, HotPath[Any]]):
    """Hot paths by name, in the order they were registered (the apps' INSTALLED_APPS order)."""

    def __init__(self) -> None:
        self._paths: dict[str, HotPath[Any]] = {}

    def register(self, hot_path: HotPath[Any]) -> None:
        known = self._paths.get(hot_path.name)
        if known is not None and known is not hot_path:
            raise DeclarationError(f"hot path {hot_path.name!r} is declared twice")
        self._paths[hot_path.name] = hot_path

    def discover(self) -> None:
        """Register the ``HOT_PATH`` of every installed project app that has a ``strategies``
        module (the way Django's admin finds each app's ``admin`` module)."""
        project = __name__.partition(".")[0]
        for config in apps.get_app_configs():
            inside = config.name.startswith(f"{project}.")
            if (
                config.name == __package__
                or not inside
                or not module_has_submodule(config.module, MODULE)
            ):
                continue
            module = import_module(f"{config.name}.{MODULE}")
            declared = getattr(module, DECLARATION, None)
            if not isinstance(declared, HotPath):
                raise DeclarationError(f"{module.__name__} declares no {DECLARATION} (a HotPath)")
            self.register(declared)

    def __getitem__(self, path: str) -> HotPath[Any]:
        return self._paths[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


_catalogue = Catalogue()
_discovered = threading.Event()
_discovering = threading.Lock()


def catalogue() -> Catalogue:
    """Every hot path the apps declare; found on the first read in each process.

    Any process that has set Django up reads the same catalogue: the web servers, the workers,
    management commands and tests. A tool that validates a strategy before it has (the load-test
    runner checking ``STRATEGY``) gets Django set up here, as ``manage.py`` would.
    """
    if not _discovered.is_set():
        with _discovering:
            if not _discovered.is_set():
                if not apps.ready:
                    if apps.loading:
                        raise ImproperlyConfigured(
                            "the strategy catalogue was read while the apps were loading"
                        )
                    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
                    django.setup()
                _catalogue.discover()
                _discovered.set()
    return _catalogue


def default(path: str) -> str:
    return catalogue()[path].default


def parse_header(value: str) -> dict[str, str]:
    """Parse ``feed=naive,search=indexed`` into a mapping, validating every name."""
    if len(value) > MAX_HEADER_LENGTH:
        raise StrategyError(f"{HEADER} is longer than {MAX_HEADER_LENGTH} characters")
    paths = catalogue()
    chosen: dict[str, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        path, sep, name = (part.strip() for part in item.partition("="))
        if not sep or path not in paths:
            known = ", ".join(paths)
            raise StrategyError(f"unknown lab path {path!r} in {HEADER}; known: {known}")
        if name not in paths[path].strategies:
            known = ", ".join(paths[path].names)
            raise StrategyError(f"unknown strategy {name!r} for {path}; known: {known}")
        chosen[path] = name
    return chosen


def choose(path: str, *, override: str | None = None) -> str:
    """The strategy for ``path`` in this request, recorded for the Server-Timing header.

    ``override`` is for benchmarks and tests that call selectors directly.
    """
    hot_path = catalogue()[path]
    request_stats = stats.current()
    name = override
    if name is None and request_stats is not None and settings.LAB_EXPERIMENTS:
        name = request_stats.requested.get(path)
    if name is None:
        name = hot_path.default
    elif name not in hot_path.strategies:
        raise StrategyError(f"unknown strategy {name!r} for {path}")
    twin = hot_path.without_redis.get(name)
    if twin is not None and not degrade.redis_up():
        name = twin
    if request_stats is not None:
        request_stats.used[path] = name
    return name
