"""Shared fixtures: the alice/bob/charlie personas, API clients, and per-test Redis cleanup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_redis import get_redis_connection

from app.accounts.models import Follow, User
from app.accounts.tests.factories import UserFactory
from app.core import ratelimit, redisops


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Each test starts with none of this run's keys in Redis (timelines, caches, sessions)."""
    yield
    redisops.delete_matching(get_redis_connection("default"), f"{settings.REDIS_KEY_PREFIX}*")
    # The limiter's in-process copies of what Redis refused, or counted while it was away.
    ratelimit.forget_refusals()


class ApiClient(Client):
    """A test client that speaks JSON and logs in with a bearer token, like a load test."""

    def __init__(self, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token

    def _headers(self, extra: dict[str, Any]) -> dict[str, Any]:
        if self.token:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        return extra

    def get_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.get(path, data, **self._headers(extra))

    def post_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        body = json.dumps(data) if data is not None else ""
        return self.post(path, body, content_type="application/json", **self._headers(extra))

    def delete_json(self, path: str, **extra: Any) -> Any:
        return self.delete(path, **self._headers(extra))


def login_client(user: User) -> ApiClient:
    client = ApiClient()
    client.force_login(user)
    session_key = client.session.session_key
    return ApiClient(token=session_key)


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
