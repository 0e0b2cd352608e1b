"""Presence: online and last seen from the socket's heartbeat, in Redis, read with no SQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings as django_settings
from django_redis import get_redis_connection

from app.accounts.models import User
from app.chat import presence, selectors, services
from app.chat.events import SERVER_FRAME
from app.chat.models import Room
from app.lab.testing import assert_queries
from app.testing.client import login_client
from app.testing.factories import UserFactory
from app.testing.sockets import SocketCommunicator, session_cookie, user_socket


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


def presence_key(user: User) -> str:
    return f"{django_settings.REDIS_KEY_PREFIX}:chat:presence:{user.pk}"


def sockets_of(user: User) -> list[str]:
    raw = get_redis_connection("default").zrange(presence_key(user), 0, -1)
    return [name.decode() for name in raw]


def state(user: User) -> presence.Presence:
    return presence.presence_get(user_ids=[user.pk])[user.pk]


async def ping(socket: SocketCommunicator) -> dict[str, Any]:
    await socket.send_json_to({"type": "ping"})
    frame: dict[str, Any] = await socket.receive_json_from(timeout=5)
    SERVER_FRAME.validate_python(frame)
    return frame


@pytest.fixture
def alice_socket_user() -> tuple[User, bytes]:
    user: User = UserFactory.create(username="alice")
    return user, session_cookie(user)


# --- Over the socket (consumers run in worker threads: their rows must be committed) -----


@pytest.mark.django_db(transaction=True)
def test_it_marks_a_user_online_on_connect_and_offline_with_last_seen_on_close(
    alice_socket_user,
):
    alice, cookie = alice_socket_user
    assert state(alice) == (False, None)

    async def scenario() -> tuple[presence.Presence, float, presence.Presence]:
        socket = await user_socket(alice, cookie)
        connected = state(alice)
        before_close = time.time()
        await socket.disconnect()
        return connected, before_close, state(alice)

    connected, before_close, closed = run(scenario)
    assert connected.online is True
    assert connected.last_seen is not None
    assert closed.online is False
    assert closed.last_seen is not None
    assert closed.last_seen.timestamp() >= before_close - 0.01
    assert sockets_of(alice) == []


@pytest.mark.django_db(transaction=True)
def test_it_answers_ping_with_pong_and_refreshes_the_ttl(alice_socket_user, settings):
    settings.CHAT_PRESENCE_TTL = 60
    settings.CHAT_PRESENCE_REFRESH = 0
    alice, cookie = alice_socket_user
    conn = get_redis_connection("default")

    async def scenario() -> tuple[dict[str, Any], int, int]:
        socket = await user_socket(alice, cookie)
        # Age the key as if most of the TTL had passed since the last heartbeat.
        conn.pexpire(presence_key(alice), 1000)
        aged = conn.pttl(presence_key(alice))
        frame = await ping(socket)
        refreshed = conn.pttl(presence_key(alice))
        await socket.disconnect()
        return frame, aged, refreshed

    frame, aged, refreshed = run(scenario)
    assert frame == {"type": "pong"}
    assert aged <= 1000
    assert refreshed > 55_000


@pytest.mark.django_db(transaction=True)
def test_it_writes_presence_at_most_once_per_refresh_interval(alice_socket_user, settings):
    settings.CHAT_PRESENCE_TTL = 60
    settings.CHAT_PRESENCE_REFRESH = 3600
    alice, cookie = alice_socket_user
    conn = get_redis_connection("default")

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        socket = await user_socket(alice, cookie)
        conn.pexpire(presence_key(alice), 5000)
        pongs = [await ping(socket) for _ in range(5)]
        ttl = conn.pttl(presence_key(alice))
        await socket.disconnect()
        return pongs, ttl

    pongs, ttl = run(scenario)
    # Every ping is answered, but none rewrote the key within the refresh interval.
    assert pongs == [{"type": "pong"}] * 5
    assert 0 < ttl <= 5000


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_user_online_while_another_of_their_sockets_is_open(alice_socket_user):
    alice, cookie = alice_socket_user

    async def scenario() -> tuple[int, bool, bool]:
        first = await user_socket(alice, cookie)
        second = await user_socket(alice, cookie)
        open_sockets = len(sockets_of(alice))
        await first.disconnect()
        after_first = state(alice).online
        await second.disconnect()
        return open_sockets, after_first, state(alice).online

    open_sockets, after_first, after_both = run(scenario)
    assert open_sockets == 2
    assert after_first is True
    assert after_both is False


@pytest.mark.django_db(transaction=True)
def test_it_shows_a_socket_without_heartbeat_offline_after_the_ttl(alice_socket_user, settings):
    settings.CHAT_PRESENCE_TTL = 0.4
    alice, cookie = alice_socket_user

    async def scenario() -> tuple[bool, presence.Presence, dict[str, Any]]:
        socket = await user_socket(alice, cookie)
        online = state(alice).online
        await asyncio.sleep(0.6)
        expired = state(alice)
        # The socket itself is still open and answers.
        frame = await ping(socket)
        await socket.disconnect()
        return online, expired, frame

    online, expired, frame = run(scenario)
    assert online is True
    assert expired.online is False
    assert expired.last_seen is not None  # the connect's heartbeat
    assert frame == {"type": "pong"}


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_ping_with_extra_fields_and_keeps_the_socket_open(alice_socket_user):
    alice, cookie = alice_socket_user

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        socket = await user_socket(alice, cookie)
        await socket.send_json_to({"type": "ping", "x": 1})
        error = await socket.receive_json_from(timeout=5)
        SERVER_FRAME.validate_python(error)
        frame = await ping(socket)
        await socket.disconnect()
        return error, frame

    error, frame = run(scenario)
    assert error["type"] == "error"
    assert error["code"] == "bad_frame"
    assert "x" in error["message"]
    assert frame == {"type": "pong"}


# --- The store itself ---------------------------------------------------------------------


def test_a_socket_that_died_without_closing_stops_counting_after_the_ttl(settings):
    settings.CHAT_PRESENCE_TTL = 0.3
    presence.presence_online(user_id=7, socket="ghost")
    settings.CHAT_PRESENCE_TTL = 60
    presence.presence_online(user_id=7, socket="live")
    time.sleep(0.4)
    # The live socket's heartbeats keep the key; the ghost's passed score no longer counts.
    presence.presence_offline(user_id=7, socket="live")
    assert presence.presence_get(user_ids=[7])[7].online is False


def test_it_reads_presence_of_many_users_in_one_round_trip_and_no_sql(db, redis_round_trips):
    presence.presence_online(user_id=1, socket="a")
    presence.presence_online(user_id=2, socket="b")
    presence.presence_offline(user_id=2, socket="b")
    round_trips = redis_round_trips()
    with assert_queries(0):
        found = presence.presence_get(user_ids=[1, 2, 3, 1, *range(100, 150)])
    assert len(round_trips) == 1
    presence.presence_online(user_id=1, socket="a")
    assert len(round_trips) == 2  # a heartbeat is one round trip too
    assert list(found)[:3] == [1, 2, 3]
    assert len(found) == 53
    assert found[1].online is True
    assert found[2].online is False
    assert isinstance(found[2].last_seen, datetime)
    assert found[2].last_seen.tzinfo is UTC
    assert found[3] == (False, None)
    assert presence.presence_get(user_ids=[]) == {}


# --- The inbox and the presence endpoint --------------------------------------------------


def say(sender: User, room: Room) -> None:
    services.message_send(sender=sender, room_id=room.pk, client_id=uuid.uuid4(), text="hi")


@pytest.fixture
def rooms(alice: User, bob: User, charlie: User) -> tuple[Room, Room]:
    """alice opens both; bob and charlie accept them by writing (presence needs consent)."""
    dm = services.room_dm_get_or_create(user=alice, other=bob)[0]
    group = services.room_group_create(creator=alice, others=[bob, charlie], title="trio")
    say(bob, dm)
    say(charlie, group)
    return dm, group


def test_it_builds_the_inbox_with_presence_in_three_queries(alice, bob, charlie, rooms):
    presence.presence_online(user_id=bob.pk, socket="bob-1")
    presence.presence_online(user_id=charlie.pk, socket="charlie-1")
    presence.presence_offline(user_id=charlie.pk, socket="charlie-1")
    # 1. memberships JOIN room, last message and its sender, with the unread count subquery
    # 2. the other members of the page's rooms, with their users
    # 3. which of them accepted a room shared with alice (only their presence is shown)
    # (presence: one Redis pipeline, no SQL)
    with assert_queries(3):
        page = selectors.room_inbox(user=alice, cursor=None, limit=20, strategy="optimized")
    found = page["presence"]
    assert set(found) == {bob.pk, charlie.pk}
    assert found[bob.pk].online is True
    assert found[charlie.pk].online is False
    assert found[charlie.pk].last_seen is not None


def test_it_shows_each_members_presence_in_the_inbox(alice, bob, charlie, rooms):
    dm, group = rooms
    presence.presence_online(user_id=bob.pk, socket="bob-1")
    body = login_client(alice).get_json("/api/chat/rooms").json()
    members = {
        (item["id"], member["username"]): member
        for item in body["items"]
        for member in item["members"]
    }
    assert members[(dm.pk, "bob")]["online"] is True
    assert members[(group.pk, "bob")]["online"] is True
    assert members[(dm.pk, "bob")]["last_seen"] is not None
    assert members[(group.pk, "charlie")]["online"] is False
    assert members[(group.pk, "charlie")]["last_seen"] is None


def test_it_answers_presence_only_for_people_who_share_a_room(alice, bob, charlie):
    dm = services.room_dm_get_or_create(user=alice, other=bob)[0]
    say(bob, dm)
    presence.presence_online(user_id=bob.pk, socket="bob-1")
    presence.presence_online(user_id=charlie.pk, socket="charlie-1")
    client = login_client(alice)
    response = client.get_json("/api/chat/presence", {"users": f"{bob.pk},{charlie.pk},{bob.pk}"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["id"], i["online"]) for i in items] == [(bob.pk, True)]
    assert items[0]["last_seen"] is not None
    # 1. the ids that accepted a room shared with alice (then one Redis pipeline)
    with assert_queries(1):
        selectors.presence_visible(user=alice, user_ids=[bob.pk, charlie.pk])
    # charlie shares no room with anyone: he learns nothing.
    stranger = login_client(charlie).get_json("/api/chat/presence", {"users": str(bob.pk)})
    assert stranger.json() == {"items": []}


@pytest.mark.parametrize(
    ("users", "code"),
    [
        ("", "invalid_users"),
        ("1,x", "invalid_users"),
        ("1,,2", "invalid_users"),
        ("-1", "invalid_users"),
        ("0", "invalid_users"),
        ("\u0661", "invalid_users"),  # ARABIC-INDIC DIGIT ONE: isdigit(), not ASCII
        ("9" * 5000, "invalid_users"),
        (str(2**63), "invalid_users"),
        (",".join(str(i) for i in range(1, 52)), "too_many_users"),
    ],
)
def test_it_rejects_bad_presence_requests(alice_client, users, code):
    response = alice_client.get_json("/api/chat/presence", {"users": users})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_it_requires_login_and_the_users_parameter_for_presence(alice_client, anon_client):
    assert anon_client.get_json("/api/chat/presence", {"users": "1"}).status_code == 401
    missing = alice_client.get_json("/api/chat/presence")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid_request"
    fifty = ",".join(str(i) for i in range(1, 51))
    assert alice_client.get_json("/api/chat/presence", {"users": fifty}).status_code == 200
