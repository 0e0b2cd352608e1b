"""Core test fixtures: ``private_redis``, the app's caches, sessions and queues on a Redis of
the test's own (app/testing/private_redis.py), which the test may stop, restart or turn
read-only: a real outage, while the suite's shared Redis keeps running for everyone else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from app.core import degrade
from app.testing.private_redis import PrivateRedis


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """The app's caches, sessions and job queues on a Redis of this test's own; the breaker
    reset, and its window short so that recovery takes milliseconds in a test."""
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    caches = {
        alias: {**config, "LOCATION": server.url} for alias, config in settings.CACHES.items()
    }
    queues = {name: {**config, "URL": server.url} for name, config in settings.RQ_QUEUES.items()}
    degrade.breaker.reset()
    previous = degrade.breaker.open_for
    degrade.breaker.open_for = 0.05
    try:
        with override_settings(CACHES=caches, RQ_QUEUES=queues):
            yield server
    finally:
        degrade.breaker.open_for = previous
        degrade.breaker.reset()
        server.stop()
