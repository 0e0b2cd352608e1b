"""The strategy catalogue: built from what each app declares, checked when it is declared, and
the Redis-down twins that choose() falls back to."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from django.test import Client

from app.chat import strategies as chat
from app.core import degrade
from app.feed import strategies as feed
from app.lab import stats
from app.lab.strategies import Catalogue, DeclarationError, HotPath, catalogue, choose, default
from app.recs import strategies as recs
from app.search import strategies as search

DECLARING: tuple[ModuleType, ...] = (feed, recs, chat, search)


def test_the_catalogue_is_what_the_apps_declare() -> None:
    assert dict(catalogue()) == {module.HOT_PATH.name: module.HOT_PATH for module in DECLARING}
    for module in DECLARING:
        assert module.HOT_PATH.strategies is module.STRATEGIES


def test_discovery_finds_every_declaring_app_once() -> None:
    found = Catalogue()
    found.discover()
    found.discover()  # the same declarations again: nothing doubles
    assert dict(found) == dict(catalogue())


def test_a_strategies_module_without_its_declaration_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(chat, "HOT_PATH")
    with pytest.raises(DeclarationError, match=r"app\.chat\.strategies declares no HOT_PATH"):
        Catalogue().discover()


def test_it_names_the_same_strategies_and_twins_as_before() -> None:
    """The paths, their strategies with the default first, and the Redis-down twins."""
    assert {path: hot_path.names for path, hot_path in catalogue().items()} == {
        "feed": ("cached", "optimized", "naive"),
        "explore": ("als", "popular"),
        "inbox": ("cached", "optimized", "naive"),
        "search": ("indexed", "cached", "naive"),
    }
    assert {path: dict(hot_path.without_redis) for path, hot_path in catalogue().items()} == {
        "feed": {"cached": "optimized"},
        "explore": {"als": "popular"},
        "inbox": {"cached": "optimized"},
        "search": {"cached": "indexed"},
    }


@pytest.mark.parametrize("path", ["feed", "explore", "inbox", "search"])
def test_every_path_compares_strategies_and_defaults_to_the_first(path: str) -> None:
    hot_path = catalogue()[path]
    assert len(hot_path.strategies) >= 2
    assert default(path) == hot_path.default == next(iter(hot_path.strategies))
    for reader, twin in hot_path.without_redis.items():
        assert reader in hot_path.strategies
        assert twin in hot_path.strategies
        assert twin not in hot_path.without_redis  # the twin reads no Redis itself


def _run(*, viewer: object, after: object, limit: int) -> list[int]:
    return []


def test_a_path_declared_twice_is_refused() -> None:
    paths = Catalogue()
    first = HotPath("feed", {"a": _run, "b": _run})
    paths.register(first)
    paths.register(first)  # the same declaration found again: still one entry
    with pytest.raises(DeclarationError, match="'feed' is declared twice"):
        paths.register(HotPath("feed", {"c": _run, "d": _run}))
    assert list(paths) == ["feed"]
    assert paths["feed"] is first


def test_a_twin_that_is_not_a_strategy_is_refused() -> None:
    with pytest.raises(DeclarationError, match="names 'sql', which is not one of its strategies"):
        HotPath("feed", {"cached": _run, "optimized": _run}, without_redis={"cached": "sql"})
    with pytest.raises(DeclarationError, match="names 'warm'"):
        HotPath("feed", {"cached": _run, "optimized": _run}, without_redis={"warm": "optimized"})


def test_a_twin_that_reads_redis_itself_is_refused() -> None:
    with pytest.raises(DeclarationError, match="reads Redis itself"):
        HotPath("feed", {"a": _run, "b": _run}, without_redis={"a": "b", "b": "a"})


def test_a_path_with_one_strategy_is_refused() -> None:
    with pytest.raises(DeclarationError, match="two strategies"):
        HotPath("feed", {"only": _run})


@pytest.fixture
def redis_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The breaker open, as after a Redis error, for longer than the test takes."""
    monkeypatch.setattr(degrade.breaker, "open_for", 60.0)
    degrade.breaker.trip()
    yield
    degrade.breaker.reset()


@pytest.mark.usefixtures("redis_down")
def test_without_redis_each_reader_gives_way_to_its_twin_and_says_so() -> None:
    token = stats.begin()
    try:
        for path, hot_path in catalogue().items():
            for name in hot_path.strategies:
                twin = hot_path.without_redis.get(name, name)
                assert choose(path, override=name) == twin, (path, name)
                assert stats.current().used[path] == twin  # type: ignore[union-attr]
            assert choose(path) == hot_path.without_redis.get(hot_path.default, hot_path.default)
    finally:
        stats.end(token)


@pytest.mark.django_db
@pytest.mark.usefixtures("redis_down")
def test_server_timing_names_the_twin_that_served(client: Client) -> None:
    response = client.get("/api/search", {"q": "sunset"}, HTTP_X_LAB_STRATEGY="search=cached")
    assert response.status_code == 200, response.content
    assert 'strategy;desc="search=indexed"' in response["Server-Timing"]
