"""The signed-in user from Redis: 0 SQL when warm, and every write to the row seen at once."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.core.cache import caches
from django.db import connection
from django_redis import get_redis_connection
from redis.client import Pipeline

from app.accounts import usercache
from app.accounts.models import User
from app.lab.testing import assert_queries
from app.testing.client import ApiClient, login_client
from app.testing.factories import UserFactory
from app.testing.imagedata import jpeg, upload
from seed import demo_user
from seed.demo_user import DEMO_PASSWORD, DEMO_USERNAME


def test_a_warm_request_authenticates_without_sql(bob_client):
    bob_client.get_json("/api/me")  # the session and the user row are now in Redis
    with assert_queries(0):
        response = bob_client.get_json("/api/me")
    assert response.json()["username"] == "bob"
    # Two cache hits: the session, then the user row.
    assert 'desc="0 queries", cache;desc="2 hit 0 miss"' in response["Server-Timing"]


def test_the_cached_row_round_trips_every_column_it_keeps(alice):
    usercache.user_get(alice.pk)  # fills the cache
    with assert_queries(0):
        cached = usercache.user_get(alice.pk)
    assert cached is not None
    fresh = User.objects.get(pk=alice.pk)
    for name in usercache.FIELDS:
        assert getattr(cached, name) == getattr(fresh, name), name
    assert cached.get_session_auth_hash() == fresh.get_session_auth_hash()


def test_an_unknown_user_is_none_and_not_cached(db):
    assert usercache.user_get(987654) is None
    with assert_queries(1):
        assert usercache.user_get(987654) is None


def test_a_profile_edit_shows_on_the_next_request(alice_client):
    alice_client.get_json("/api/me")
    response = alice_client.patch(
        "/api/me",
        {"name": "Alice Liddell", "is_private": False},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
    )
    assert response.status_code == 200
    body = alice_client.get_json("/api/me").json()
    assert (body["name"], body["is_private"]) == ("Alice Liddell", False)


def test_follow_and_unfollow_counts_show_on_both_users_next_requests(charlie, alice_client):
    charlie_client = login_client(charlie)
    for client in (charlie_client, alice_client):
        client.get_json("/api/me")  # both rows cached
    assert charlie_client.post_json("/api/users/alice/follow").status_code in (200, 201)
    assert charlie_client.get_json("/api/me").json()["following_count"] == 0  # a request
    assert alice_client.post_json("/api/me/follow-requests/charlie/approve").status_code == 200
    assert charlie_client.get_json("/api/me").json()["following_count"] == 1
    assert alice_client.get_json("/api/me").json()["follower_count"] == 1
    assert charlie_client.delete_json("/api/users/alice/follow").status_code in (200, 204)
    assert charlie_client.get_json("/api/me").json()["following_count"] == 0
    assert alice_client.get_json("/api/me").json()["follower_count"] == 0


def test_a_new_and_a_deleted_post_move_post_count_at_once(alice_client):
    assert alice_client.get_json("/api/me").json()["post_count"] == 0
    response = alice_client.post(
        "/api/posts",
        {"images": [upload(jpeg())], "caption": "hello"},
        HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
    )
    assert response.status_code == 201, response.content
    assert alice_client.get_json("/api/me").json()["post_count"] == 1
    assert alice_client.delete_json(f"/api/posts/{response.json()['id']}").status_code == 204
    assert alice_client.get_json("/api/me").json()["post_count"] == 0


def test_a_password_reset_by_the_demo_command_ends_old_sessions(db, settings):
    settings.DEBUG = True  # the demo account exists in development mode only
    demo_user.ensure(base_url=None, out=io.StringIO())
    demo = User.objects.get(username=DEMO_USERNAME)
    demo.set_password("something-else-entirely")
    demo.save(update_fields=["password"])
    client = login_client(demo)
    assert client.get_json("/api/me").status_code == 200  # cached with this password hash
    demo_user.ensure(base_url=None, out=io.StringIO())  # resets it to DEMO_PASSWORD
    assert client.get_json("/api/me").status_code == 401
    assert User.objects.get(pk=demo.pk).check_password(DEMO_PASSWORD)


def test_a_fill_that_raced_a_write_is_not_stored(alice):
    """A reader that loaded the row before a write committed must not cache it after."""

    def write_lands_meanwhile(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "accounts_user" in sql:
            usercache.user_changed(alice.pk)  # the writer's invalidation, mid-read
        return result

    with connection.execute_wrapper(write_lands_meanwhile):
        assert usercache.user_get(alice.pk) is not None
    # Not cached: the next read goes to PostgreSQL again, and then caches.
    with assert_queries(1):
        usercache.user_get(alice.pk)
    with assert_queries(0):
        usercache.user_get(alice.pk)


@pytest.mark.parametrize("field", ["last_login", "date_joined"])
def test_the_login_timestamps_are_not_cached(field):
    assert field not in usercache.FIELDS


def test_a_session_missing_from_the_cache_still_authenticates_from_the_database(bob_client):
    bob_client.get_json("/api/me")
    caches["sessions"].delete(KEY_PREFIX + bob_client.token)
    response = bob_client.get_json("/api/me")
    assert response.status_code == 200
    assert response.json()["username"] == "bob"
    # The session is cached again: the next request reads it and the user in one script call.
    with assert_queries(0):
        assert bob_client.get_json("/api/me").json()["username"] == "bob"


def test_a_bogus_bearer_token_is_anonymous(db):
    response = ApiClient(token="not-a-session-key").get_json("/api/me")
    assert response.status_code == 401


def test_a_session_cached_in_an_older_format_reloads_from_the_database(bob_client):
    bob_client.get_json("/api/me")
    key = caches["sessions"].make_key(KEY_PREFIX + bob_client.token)
    get_redis_connection("default").set(key, b"\x80\x05not json")  # a pickled copy, say
    assert bob_client.get_json("/api/me").json()["username"] == "bob"


def test_a_request_that_never_reads_its_session_costs_no_redis_read(bob_client):
    response = bob_client.get_json("/lab/hello")
    assert 'cache;desc="0 hit 0 miss"' in response["Server-Timing"]


def test_the_session_read_brings_the_user_row_so_auth_is_one_round_trip(bob_client, monkeypatch):
    bob_client.get_json("/api/me")  # the session and the row are cached
    pipelines: list[object] = []
    real = Pipeline.execute

    def counted(self: Pipeline, *args: object, **kwargs: object) -> object:
        pipelines.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counted)
    assert bob_client.get_json("/api/me").json()["username"] == "bob"
    assert pipelines == []  # the user row came with the session, in the same script call


def test_a_login_that_upgrades_the_password_hash_keeps_the_new_session(db):
    """A seeded hash with a low-entropy salt is re-hashed by Django at login (its setter saves
    the row); the cached row must follow, or the new session's auth hash, made from the new
    password, does not match the stale row and the user is signed out at the next request."""
    user = UserFactory(username="rehash")
    User.objects.filter(pk=user.pk).update(
        password=make_password("a-long-passphrase", salt="instalabseed42")
    )
    warm = login_client(User.objects.get(pk=user.pk))
    assert warm.get_json("/api/me").status_code == 200  # the row is cached now

    response = ApiClient().post_json(
        "/api/auth/login", {"username": "rehash", "password": "a-long-passphrase"}
    )
    assert response.status_code == 200, response.content
    assert User.objects.get(pk=user.pk).password.split("$")[2] != "instalabseed42"  # upgraded
    fresh = ApiClient(token=response.json()["token"])
    assert fresh.get_json("/api/me").status_code == 200
    assert fresh.get_json("/api/me").status_code == 200
