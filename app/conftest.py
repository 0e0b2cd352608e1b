"""Shared fixtures: the alice/bob/charlie personas, their API clients, and per-test Redis
cleanup. The helpers behind them live in app/testing/, which tests import."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from app.accounts.models import Follow, User
from app.core import ratelimit, redisops, redisroles
from app.testing.client import ApiClient, login_client
from app.testing.factories import UserFactory


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Each test starts with none of this run's keys in Redis (timelines, caches, sessions)."""
    yield
    for server in redisroles.servers():
        redisops.delete_matching(redisroles.connection_at(server), f"{settings.REDIS_KEY_PREFIX}*")
    # The limiter's in-process copies of what Redis refused, or counted while it was away.
    ratelimit.forget_refusals()


@pytest.fixture
def alice(db: None) -> User:
    """The owner: a private account, so every privacy rule is exercised."""
    return UserFactory(username="alice", name="Alice", is_private=True)


@pytest.fixture
def bob(alice: User) -> User:
    """A follower of alice."""
    bob = UserFactory(username="bob", name="Bob")
    Follow.objects.create(follower=bob, followee=alice)
    User.objects.filter(pk=alice.pk).update(follower_count=1)
    User.objects.filter(pk=bob.pk).update(following_count=1)
    return bob


@pytest.fixture
def charlie(db: None) -> User:
    """A stranger: follows nobody, followed by nobody."""
    return UserFactory(username="charlie", name="Charlie")


@pytest.fixture
def anon_client() -> ApiClient:
    return ApiClient()


@pytest.fixture
def alice_client(alice: User) -> ApiClient:
    return login_client(alice)


@pytest.fixture
def bob_client(bob: User) -> ApiClient:
    return login_client(bob)


@pytest.fixture
def charlie_client(charlie: User) -> ApiClient:
    return login_client(charlie)
