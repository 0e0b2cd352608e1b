"""Chat test fixtures: a fresh channel layer per test, and a count of Redis round trips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from django_redis import get_redis_connection


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """Each test runs its sockets in its own event loop (asyncio.run); the Redis layer keeps
    loop-bound locks and buffers, so a layer must not outlive the loop that used it."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[object]]:
    """``redis_round_trips()`` starts recording each checkout of a connection from the default
    Redis pool (one per plain command, one per pipeline) into the list it returns."""

    def start() -> list[object]:
        pool = get_redis_connection("default").connection_pool
        checkouts: list[object] = []
        checkout = pool.get_connection

        def counted(*args: Any, **kwargs: Any) -> Any:
            checkouts.append(args)
            return checkout(*args, **kwargs)

        monkeypatch.setattr(pool, "get_connection", counted)
        return checkouts

    return start
