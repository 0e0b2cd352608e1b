"""The cached inbox: the same rooms as ``optimized``, no SQL when warm, and every write that
changes an inbox showing on the next read."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.accounts import services as accounts
from app.accounts.models import User
from app.chat import inboxcache, presence, selectors, services
from app.chat.models import Message, Room
from app.core import degrade
from app.lab.testing import assert_queries
from app.testing.client import ApiClient, login_client
from app.testing.factories import PostFactory, UserFactory

Commit = Callable[[], Any]


def say(sender: User, room: Room, text: str) -> Message:
    message, _ = services.message_send(
        sender=sender, room_id=room.pk, client_id=uuid.uuid4(), text=text
    )
    return message


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Iterator[Callable[[Commit], Any]]:
    """Run a write and then its on-commit work (broadcasts, cache drops), as a commit would;
    the test's own transaction never commits."""

    def run(write: Commit) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return write()

    yield run


def world(user: User, rooms: int, committed: Callable[[Commit], Any]) -> list[Room]:
    """``rooms`` rooms of ``user``, DMs and groups, each with unread messages from others."""
    made = []
    for index in range(rooms):
        other, third = UserFactory.create_batch(2)
        if index % 2:
            room = committed(
                lambda o=other, t=third, i=index: services.room_group_create(
                    creator=user, others=[o, t], title=f"g{i}"
                )
            )
        else:
            room = committed(lambda o=other: services.room_dm_get_or_create(user=user, other=o)[0])
        committed(lambda o=other, r=room, i=index: say(o, r, f"m{i}"))
        if index % 3 == 0:
            committed(lambda r=room: say(user, r, "reply"))
        committed(lambda o=other, r=room: say(o, r, "again " * 30))
        made.append(room)
    return made


def inbox(client: ApiClient, strategy: str, **params: Any) -> dict[str, Any]:
    response = client.get_json("/api/chat/rooms", params, HTTP_X_LAB_STRATEGY=f"inbox={strategy}")
    assert response.status_code == 200
    assert f"inbox={strategy}" in response["Server-Timing"]
    body: dict[str, Any] = response.json()
    return body


def assert_same_as_optimized(client: ApiClient, **params: Any) -> dict[str, Any]:
    """The cached page equals optimized's, field by field; read twice (cold, then warm)."""
    expected = inbox(client, "optimized", **params)
    assert inbox(client, "cached", **params) == expected
    assert inbox(client, "cached", **params) == expected
    return expected


def test_it_serves_the_same_inbox_as_optimized_field_by_field(alice, committed):
    world(alice, 7, committed)
    # Those who wrote: only accepted peers' presence is shown (test_presence_privacy.py).
    members = (
        User.objects.filter(pk__in=Message.objects.values("sender_id"))
        .exclude(pk=alice.pk)
        .order_by("id")
    )
    User.objects.filter(pk=members[0].pk).update(avatar="avatars/2026/11/a.jpg", is_private=True)
    presence.presence_online(user_id=members[1].pk, socket="s1")
    presence.presence_online(user_id=members[2].pk, socket="s2")
    presence.presence_offline(user_id=members[2].pk, socket="s2")
    client = login_client(alice)
    first = assert_same_as_optimized(client, limit=4)
    second = assert_same_as_optimized(client, limit=4, cursor=first["next_cursor"])
    assert inbox(client, "naive", limit=4) == first
    assert len(first["items"]) == 4 and len(second["items"]) == 3
    assert second["next_cursor"] is None
    everyone = [m for page in (first, second) for item in page["items"] for m in item["members"]]
    assert any(m["avatar_url"] and m["is_private"] for m in everyone)
    assert any(m["online"] for m in everyone)
    assert any(m["last_seen"] and not m["online"] for m in everyone)
    assert any(item["unread"] for item in first["items"])
    assert all(len(item["last_message"]["text"]) == 100 for item in first["items"])


@pytest.mark.parametrize("rooms", [2, 20])
def test_it_reads_a_warm_inbox_with_no_sql_at_any_size(alice, committed, rooms):
    world(alice, rooms, committed)

    def read() -> dict[str, Any]:
        page = selectors.room_inbox(user=alice, cursor=None, limit=20, strategy="cached")
        for entry in page["items"]:
            assert entry.render(page["presence"])["members"]
        return page

    # 1. memberships JOIN room and last message, with the unread count subquery
    # 2. the ids of the other members of the page's rooms
    # 3. the members who accepted a room shared with alice (then cached)
    # 4. the rows of the members the user cache lacks (then cached)
    with assert_queries(4):
        cold = read()
    # (the page, then member rows, presence and accepted peers: two Redis round trips)
    with assert_queries(0):
        warm = read()
    assert len(cold["items"]) == len(warm["items"]) == rooms


def test_it_reads_a_warm_inbox_over_http_with_no_sql(alice, bob, charlie, committed):
    committed(lambda: services.room_group_create(creator=alice, others=[bob, charlie], title="t"))
    client = login_client(alice)
    client.get_json("/api/chat/rooms")
    # (auth from the session and user caches, the page and the members from Redis)
    with assert_queries(0):
        response = client.get_json("/api/chat/rooms")
    assert response.status_code == 200
    assert "inbox=cached" in response["Server-Timing"]
    assert [m["username"] for m in response.json()["items"][0]["members"]] == ["bob", "charlie"]


def test_it_shows_each_change_on_the_next_request(alice, bob, charlie, committed):
    dm = committed(lambda: services.room_dm_get_or_create(user=alice, other=bob)[0])
    group = committed(
        lambda: services.room_group_create(creator=charlie, others=[alice, bob], title="trio")
    )
    client = login_client(alice)
    assert_same_as_optimized(client)

    # A message from someone else: last message, unread and order.
    hello = committed(lambda: say(bob, dm, "hello"))
    body = assert_same_as_optimized(client)
    assert body["items"][0]["id"] == dm.pk
    assert body["items"][0]["last_message"]["id"] == hello.pk
    assert body["items"][0]["unread"] == 1

    # Alice's own message: order and last message; her unread goes to 0.
    committed(lambda: say(charlie, group, "one"))
    assert assert_same_as_optimized(client)["items"][0]["unread"] == 1
    mine = committed(lambda: say(alice, group, "mine"))
    body = assert_same_as_optimized(client)
    assert (body["items"][0]["last_message"]["id"], body["items"][0]["unread"]) == (mine.pk, 0)

    # A read mark.
    committed(lambda: services.message_read(user=alice, room_id=dm.pk, message_id=hello.pk))
    assert {item["id"]: item["unread"] for item in assert_same_as_optimized(client)["items"]} == {
        dm.pk: 0,
        group.pk: 0,
    }

    # A shared post.
    post = PostFactory(author=bob)
    committed(
        lambda: services.post_share(
            sender=bob, post_id=post.pk, usernames=[], room_ids=[dm.pk], text="", client_id=None
        )
    )
    body = assert_same_as_optimized(client)
    assert (body["items"][0]["last_message"]["kind"], body["items"][0]["unread"]) == ("post", 1)

    # A new room, someone else's doing.
    dave = UserFactory(username="dave")
    new = committed(lambda: services.room_dm_get_or_create(user=dave, other=alice)[0])
    assert new.pk in [item["id"] for item in assert_same_as_optimized(client)["items"]]

    # A renamed group.
    committed(lambda: services.room_rename(user=bob, room_id=group.pk, title="four"))
    titles = {item["id"]: item["title"] for item in assert_same_as_optimized(client)["items"]}
    assert titles[group.pk] == "four"

    # A member's new name and privacy (accounts drops the row the members are read from).
    committed(lambda: accounts.user_update_profile(user=bob, name="Bobby", is_private=True))
    body = assert_same_as_optimized(client)
    shown = [m for item in body["items"] for m in item["members"] if m["id"] == bob.pk]
    assert len(shown) == 2
    assert all(m["name"] == "Bobby" and m["is_private"] for m in shown)


def test_a_members_profile_change_costs_one_query_not_a_rebuild(alice, bob, committed):
    committed(lambda: services.room_dm_get_or_create(user=alice, other=bob)[0])
    selectors.room_inbox(user=alice, cursor=None, limit=20, strategy="cached")
    committed(lambda: accounts.user_update_profile(user=bob, name="Bobby"))
    # 1. bob's row, dropped by the profile change (the page itself is still warm)
    with assert_queries(1):
        page = selectors.room_inbox(user=alice, cursor=None, limit=20, strategy="cached")
    assert page["items"][0].members[0]["name"] == "Bobby"


def test_it_drops_only_the_readers_inbox_on_a_read(alice, bob, committed):
    dm = committed(lambda: services.room_dm_get_or_create(user=alice, other=bob)[0])
    hello = committed(lambda: say(bob, dm, "hello"))
    for user in (alice, bob):
        selectors.room_inbox(user=user, cursor=None, limit=20, strategy="cached")
    committed(lambda: services.message_read(user=alice, room_id=dm.pk, message_id=hello.pk))
    with assert_queries(0):
        selectors.room_inbox(user=bob, cursor=None, limit=20, strategy="cached")
    # 1. alice's rooms with unread counts; 2. their member ids; 3. her accepted peers (the
    # read mark dropped her whole inbox hash; bob's row is cached)
    with assert_queries(3):
        page = selectors.room_inbox(user=alice, cursor=None, limit=20, strategy="cached")
    assert page["items"][0].row[6] == 0


def test_it_never_stores_a_page_built_before_a_write(alice, bob, committed):
    committed(lambda: services.room_dm_get_or_create(user=alice, other=bob)[0])
    field = inboxcache.page_field(cursor=None, limit=20)
    raw, generation = inboxcache.page_get(user_id=alice.pk, field=field)
    assert raw is None
    # A write commits between this reader's SQL read and its fill.
    inboxcache.inbox_forget(user_ids=[alice.pk])
    inboxcache.page_fill(user_id=alice.pk, field=field, generation=generation, body=b"[]")
    assert inboxcache.page_get(user_id=alice.pk, field=field)[0] is None
    # A fill with the current generation is stored.
    _, generation = inboxcache.page_get(user_id=alice.pk, field=field)
    inboxcache.page_fill(user_id=alice.pk, field=field, generation=generation, body=b"[]")
    assert inboxcache.page_get(user_id=alice.pk, field=field)[0] == b"[]"


@pytest.mark.django_db(transaction=True)
def test_a_send_drops_every_members_inbox_in_its_publish_round_trip(redis_round_trips):
    alice, bob = UserFactory.create_batch(2)
    dm = services.room_dm_get_or_create(user=alice, other=bob)[0]
    for user in (alice, bob):
        selectors.room_inbox(user=user, cursor=None, limit=20, strategy="cached")
    round_trips = redis_round_trips()
    # 1. the send: membership check, insert, room and read mark in one statement
    with assert_queries(1):
        message = say(alice, dm, "hi")
    # the admit script, then one pipeline: publish, unlock and both members' inbox drops
    assert len(round_trips) == 2
    for user in (alice, bob):
        page = selectors.room_inbox(user=user, cursor=None, limit=20, strategy="cached")
        assert page["items"][0].row[5]["id"] == message.pk


def test_it_counts_unread_rooms_for_the_badge_from_the_cache(alice, bob, charlie, committed):
    dm = committed(lambda: services.room_dm_get_or_create(user=alice, other=bob)[0])
    group = committed(
        lambda: services.room_group_create(creator=charlie, others=[alice, bob], title="trio")
    )
    client = login_client(alice)

    def unread() -> int:
        response = client.get_json("/api/chat/unread")
        assert response.status_code == 200
        count: int = response.json()["rooms"]
        return count

    # 1. the memberships whose room's last message is past the read mark (then cached)
    with assert_queries(1):
        assert selectors.unread_room_count(user=alice) == 0
    client.get_json("/api/chat/rooms")  # the session's user row, cached
    # (auth from the session and user caches, the count from the inbox hash)
    with assert_queries(0):
        assert unread() == 0

    # Others' messages raise it, once per room; alice's own reply reads its room.
    hello = committed(lambda: say(bob, dm, "hello"))
    committed(lambda: say(bob, dm, "again"))
    assert unread() == 1
    committed(lambda: say(charlie, group, "hi all"))
    assert unread() == 2
    committed(lambda: say(alice, group, "hi"))
    assert unread() == 1

    # Reading part of a room leaves it unread; reading to its last message does not.
    committed(lambda: services.message_read(user=alice, room_id=dm.pk, message_id=hello.pk))
    assert unread() == 1
    last = Message.objects.filter(room=dm).latest("id")
    committed(lambda: services.message_read(user=alice, room_id=dm.pk, message_id=last.pk))
    with assert_queries(1):
        assert unread() == 0
    assert login_client(bob).get_json("/api/chat/unread").json() == {"rooms": 1}


def test_it_counts_unread_rooms_in_sql_while_redis_is_down(
    alice, bob, committed, settings, tmp_path
):
    dm = committed(lambda: services.room_dm_get_or_create(user=alice, other=bob)[0])
    committed(lambda: say(bob, dm, "hello"))
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    caches["default"]["LOCATION"] = f"unix://{tmp_path}/nobody.sock"
    settings.CACHES = caches
    degrade.breaker.reset()
    try:
        # The Redis error trips the breaker, and the count comes from SQL; then SQL at once.
        for _ in range(2):
            with assert_queries(1):
                assert selectors.unread_room_count(user=alice) == 1
            assert not degrade.redis_up()
    finally:
        degrade.breaker.reset()


def test_its_cold_path_over_http_is_five_queries_at_most(alice, bob, charlie, committed):
    """The load-test gate's limit for GET /api/chat/rooms (loadtests/thresholds/ci.toml): the
    worst cold request, after a message dropped the viewer's pages and follows dropped both
    the viewer's and a member's cached user rows (their counts changed)."""
    group = committed(
        lambda: services.room_group_create(creator=alice, others=[bob, charlie], title="t")
    )
    client = login_client(alice)
    client.get_json("/api/chat/rooms")
    committed(lambda: say(bob, group, "hi"))
    committed(lambda: accounts.follow_create(follower=alice, followee=bob))
    # 1. the viewer's user row (the session's copy came with it: the follow dropped it)
    # 2. memberships JOIN room and last message, with the unread count subquery
    # 3. the ids of the other members of the page's rooms
    # 4. the members who accepted a room shared with alice (dropped with her pages)
    # 5. the rows of the members the user cache lacks (bob's, dropped by the follow)
    with assert_queries(5):
        response = client.get_json("/api/chat/rooms")
    assert response.status_code == 200
    # Warm again: nothing.
    with assert_queries(0):
        client.get_json("/api/chat/rooms")
