"""Presence needs consent: a member's online state and last seen reach only people they chose
to talk with (created or wrote in a room shared with them), on every path that shows it:
GET /api/chat/presence and the inbox of every strategy, cached included."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.accounts.models import User
from app.chat import presence, services
from app.chat.models import Membership, Room
from app.core import realtime
from app.testing.client import ApiClient, login_client

Commit = Callable[[], Any]
STRATEGIES = ("cached", "optimized", "naive")


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Iterator[Callable[[Commit], Any]]:
    """Run a write and its on-commit work (broadcasts, inbox drops), as a commit would."""

    def run(write: Commit) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return write()

    yield run


def say(sender: User, room: Room) -> None:
    services.message_send(sender=sender, room_id=room.pk, client_id=uuid.uuid4(), text="hi")


def shown(client: ApiClient, user: User) -> bool:
    """Does ``client`` see ``user``'s presence, asking the presence endpoint?"""
    items = client.get_json("/api/chat/presence", {"users": str(user.pk)}).json()["items"]
    return bool(items) and items[0]["online"]


def inbox_online(client: ApiClient, user: User, strategy: str) -> set[bool]:
    """``user``'s online flag in every room of ``client``'s inbox that lists them."""
    response = client.get_json("/api/chat/rooms", HTTP_X_LAB_STRATEGY=f"inbox={strategy}")
    assert f"inbox={strategy}" in response["Server-Timing"]
    return {
        member["online"]
        for item in response.json()["items"]
        for member in item["members"]
        if member["id"] == user.pk
    }


def test_adding_someone_to_a_group_does_not_reveal_their_presence(alice, bob, charlie, committed):
    group = committed(
        lambda: services.room_group_create(creator=charlie, others=[alice, bob], title="hi")
    )
    presence.presence_online(user_id=alice.pk, socket="alice-1")
    presence.presence_online(user_id=charlie.pk, socket="charlie-1")
    charlie_client, bob_client, alice_client = map(login_client, (charlie, bob, alice))
    # alice never wrote there: neither the group's creator nor its other member sees her.
    assert not shown(charlie_client, alice)
    assert not shown(bob_client, alice)
    for strategy in STRATEGIES:
        assert inbox_online(charlie_client, alice, strategy) == {False}
        assert inbox_online(bob_client, alice, strategy) == {False}
    # The creator chose the room: its members see him.
    assert shown(alice_client, charlie)
    assert inbox_online(alice_client, charlie, "cached") == {True}
    # Once alice writes, she has accepted: the next read shows her, cached inbox included.
    committed(lambda: say(alice, group))
    assert shown(charlie_client, alice)
    for strategy in STRATEGIES:
        assert inbox_online(charlie_client, alice, strategy) == {True}
        assert inbox_online(bob_client, alice, strategy) == {True}


def test_a_dm_opened_to_someone_shows_them_only_once_they_reply(alice, bob, charlie, committed):
    dm = committed(lambda: services.room_dm_get_or_create(user=charlie, other=alice)[0])
    presence.presence_online(user_id=alice.pk, socket="alice-1")
    presence.presence_online(user_id=charlie.pk, socket="charlie-1")
    charlie_client, alice_client = login_client(charlie), login_client(alice)
    # Warm charlie's cached inbox first: the reply must drop what it holds.
    assert inbox_online(charlie_client, alice, "cached") == {False}
    assert inbox_online(charlie_client, alice, "cached") == {False}
    assert not shown(charlie_client, alice)
    assert shown(alice_client, charlie)
    committed(lambda: say(alice, dm))
    assert inbox_online(charlie_client, alice, "cached") == {True}
    assert shown(charlie_client, alice)
    # A stranger to both learns nothing either way.
    assert not shown(login_client(bob), alice)


def test_the_database_records_who_accepted_on_every_write_path(alice, bob, charlie):
    group = services.room_group_create(creator=alice, others=[bob, charlie], title="t")
    dm = services.room_dm_get_or_create(user=bob, other=charlie)[0]
    say(charlie, group)
    say(charlie, group)

    def accepted(room: Room) -> dict[str, bool]:
        rows = Membership.objects.filter(room=room).select_related("user")
        return {row.user.username: row.accepted_at is not None for row in rows}

    assert accepted(group) == {"alice": True, "bob": False, "charlie": True}
    assert accepted(dm) == {"bob": True, "charlie": False}


def test_read_receipts_reach_the_others_only_once_the_reader_accepted(
    alice, bob, charlie, committed
):
    """Like presence: opening a group a stranger added you to must not tell him you read it.
    The reader's own sockets still learn it (their unread counts)."""
    from channels.layers import get_channel_layer
    from django_redis import get_redis_connection

    group = committed(
        lambda: services.room_group_create(creator=charlie, others=[alice, bob], title="hi")
    )
    committed(lambda: say(charlie, group))
    last = group.messages.order_by("-id").first()
    layer = get_channel_layer()
    prefix = realtime.pubsub_prefix()
    assert layer is not None and prefix is not None
    listener = get_redis_connection("default").pubsub(ignore_subscribe_messages=True)
    channels = {
        user.pk: realtime.group_channel(prefix, realtime.user_group(user.pk))
        for user in (alice, charlie)
    }
    listener.subscribe(*channels.values())

    def receipts() -> dict[int, list[dict[str, Any]]]:
        got: dict[int, list[dict[str, Any]]] = {user_id: [] for user_id in channels}
        # Until the channels stay quiet for a while (None also stands for an ignored
        # subscribe confirmation, so one None is not the end).
        quiet_until = time.monotonic() + 0.5
        while time.monotonic() < quiet_until:
            message = listener.get_message(timeout=0.1)
            if message is None:
                continue
            quiet_until = time.monotonic() + 0.5
            payload = layer.deserialize(message["data"])["payload"]
            owner = next(
                uid for uid, name in channels.items() if name.encode() == message["channel"]
            )
            if payload["type"] == "read":
                got[owner].append(payload)
        return got

    try:
        assert committed(
            lambda: services.message_read(user=alice, room_id=group.pk, message_id=last.pk)
        )
        first = receipts()
        assert first[charlie.pk] == []  # alice never accepted the group
        assert [frame["user"] for frame in first[alice.pk]] == [alice.pk]

        committed(lambda: say(alice, group))  # now she has
        committed(lambda: say(charlie, group))
        newest = group.messages.order_by("-id").first()
        assert committed(
            lambda: services.message_read(user=alice, room_id=group.pk, message_id=newest.pk)
        )
        assert [frame["user"] for frame in receipts()[charlie.pk]] == [alice.pk]
    finally:
        listener.close()
