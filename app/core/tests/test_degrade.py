"""Redis outages, for real: a private Redis is killed, restarted or turned read-only under the
app, and every read still answers from PostgreSQL, every write commits (its cache effects
waiting in the outbox), and no cache outlives a write it missed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.test import Client

from app.accounts.models import User
from app.core import degrade
from app.core.models import DeferredEffect
from app.posts.models import Like, Post, PostHashtag
from app.testing import imagedata
from app.testing.client import ApiClient, login_client
from app.testing.factories import HashtagFactory, PostFactory
from app.testing.private_redis import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True)


def after_window() -> None:
    """Past the breaker's (shortened) window: the next caller probes Redis."""
    time.sleep(degrade.breaker.open_for * 1.5)


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def world(private_redis: PrivateRedis, alice: User, bob: User) -> tuple[Post, ApiClient]:
    """bob follows alice (private); alice has one post with a hashtag; bob is signed in."""
    post = PostFactory(author=alice, caption="sunset #golden")
    tag = HashtagFactory(name="golden", post_count=1)
    PostHashtag.objects.create(post=post, hashtag=tag, created_at=post.created_at)
    return post, login_client(bob)


READS = (
    "/api/me",
    "/api/feed",
    "/api/explore",
    "/api/users/alice/posts",
    "/api/users/alice",
    "/api/search?q=sunset",
    "/api/search/suggest?q=go",
    "/api/search/trending",
    "/api/hashtags/golden",
)


def test_every_read_answers_from_postgresql_when_redis_is_gone(
    private_redis: PrivateRedis, world: tuple[Post, ApiClient]
) -> None:
    post, bob_client = world
    for path in (*READS, f"/api/posts/{post.pk}"):
        assert bob_client.get_json(path).status_code == 200, path  # warm, Redis up

    private_redis.stop()

    for path in (*READS, f"/api/posts/{post.pk}"):
        response = bob_client.get_json(path)
        assert response.status_code == 200, (path, response.content)
    assert [item["id"] for item in bob_client.get_json("/api/feed").json()["items"]] == [post.pk]
    detail = bob_client.get_json(f"/api/posts/{post.pk}").json()
    assert detail["caption"] == "sunset #golden"
    assert degrade.breaker.trips >= 1


def test_the_first_request_to_meet_the_outage_is_served_too(
    private_redis: PrivateRedis, world: tuple[Post, ApiClient]
) -> None:
    """No warm-up request trips the breaker first: the request that meets the dead Redis is
    retried on PostgreSQL within itself."""
    post, bob_client = world
    private_redis.stop()
    degrade.breaker.reset()
    response = bob_client.get_json(f"/api/posts/{post.pk}")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == post.pk


def test_sign_in_and_out_work_without_redis(private_redis: PrivateRedis, alice: User) -> None:
    alice.set_password("a-long-passphrase")
    alice.save()
    private_redis.stop()
    client = ApiClient()
    response = client.post_json(
        "/api/auth/login", {"username": "alice", "password": "a-long-passphrase"}
    )
    assert response.status_code == 200, response.content
    signed_in = ApiClient(token=response.json()["token"])
    assert signed_in.get_json("/api/me").json()["username"] == "alice"
    assert signed_in.post_json("/api/auth/logout").status_code == 200
    assert signed_in.get_json("/api/me").status_code == 401


def test_a_like_during_the_outage_commits_and_its_effects_wait_in_the_outbox(
    private_redis: PrivateRedis, world: tuple[Post, ApiClient]
) -> None:
    post, bob_client = world
    private_redis.stop()

    response = bob_client.post_json(f"/api/posts/{post.pk}/like")

    assert response.status_code == 200, response.content
    assert response.json()["like_count"] == 1
    assert Like.objects.filter(post=post).count() == 1
    assert DeferredEffect.objects.filter(effect="feed.like_changed").count() == 1

    private_redis.start()
    after_window()
    assert bob_client.get_json(f"/api/posts/{post.pk}").json()["like_count"] == 1
    assert DeferredEffect.objects.count() == 0


def test_a_post_created_during_the_outage_is_whole_and_reaches_the_feed_after(
    private_redis: PrivateRedis, world: tuple[Post, ApiClient], alice: User, media: Path
) -> None:
    _, bob_client = world
    alice_client = login_client(alice)
    bob_client.get_json("/api/feed")  # bob's timeline is cached
    private_redis.stop()

    upload = imagedata.upload(imagedata.jpeg())
    response = Client().post(
        "/api/posts",
        {"images": [upload], "caption": "made offline #golden"},
        HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
    )

    assert response.status_code == 201, response.content
    created = response.json()["id"]
    stored = Post.objects.get(pk=created).images.get().feed.name
    assert stored is not None and (media / stored).exists()
    assert created in [item["id"] for item in bob_client.get_json("/api/feed").json()["items"]]

    private_redis.start()
    after_window()
    feed = bob_client.get_json("/api/feed").json()["items"]
    assert created in [item["id"] for item in feed]
    assert DeferredEffect.objects.count() == 0


def test_no_cache_outlives_a_write_it_missed(
    private_redis: PrivateRedis, world: tuple[Post, ApiClient]
) -> None:
    """Redis refuses writes but keeps its data (a failover in progress): the like commits,
    the cached body it should have dropped is replayed away before any read uses it."""
    post, bob_client = world
    assert bob_client.get_json(f"/api/posts/{post.pk}").json()["like_count"] == 0  # cached

    private_redis.read_only(True)
    assert bob_client.post_json(f"/api/posts/{post.pk}/like").status_code == 200
    assert bob_client.get_json(f"/api/posts/{post.pk}").json()["like_count"] == 1

    private_redis.read_only(False)
    after_window()
    assert bob_client.get_json(f"/api/posts/{post.pk}").json()["like_count"] == 1
    assert DeferredEffect.objects.count() == 0
    assert degrade.redis_up() is True  # and the caches are in use again


def test_a_signed_out_session_stays_out_after_redis_returns_with_its_copy(
    private_redis: PrivateRedis, alice: User
) -> None:
    alice_client = login_client(alice)
    assert alice_client.get_json("/api/me").status_code == 200  # the session is cached

    private_redis.read_only(True)
    assert alice_client.post_json("/api/auth/logout").status_code == 200
    private_redis.read_only(False)
    after_window()

    assert alice_client.get_json("/api/me").status_code == 401


def test_the_breaker_stays_open_while_the_probe_fails(private_redis: PrivateRedis) -> None:
    private_redis.stop()
    degrade.redis_failed(ConnectionError())
    assert degrade.redis_up() is False
    after_window()
    assert degrade.redis_up() is False  # probed, still down: a new window
    private_redis.start()
    after_window()
    assert degrade.redis_up() is True


def test_a_script_a_read_only_redis_refuses_is_an_outage_not_a_500(
    private_redis: PrivateRedis, world: tuple[Post, ApiClient]
) -> None:
    """The post detail's script refreshes a TTL: on a read-only replica Redis refuses it as
    "ERR Error running script ... READONLY", which must trip the breaker like any outage."""
    post, bob_client = world
    assert bob_client.get_json(f"/api/posts/{post.pk}").status_code == 200  # cached
    private_redis.read_only(True)
    degrade.breaker.reset()
    response = bob_client.get_json(f"/api/posts/{post.pk}")
    assert response.status_code == 200, response.content
    assert degrade.redis_up() is False
