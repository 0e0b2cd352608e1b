"""Chat test fixtures: a fresh channel layer per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """Each test runs its sockets in its own event loop (asyncio.run); the Redis layer keeps
    loop-bound locks and buffers, so a layer must not outlive the loop that used it."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
