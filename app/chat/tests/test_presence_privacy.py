"""Presence needs consent: a member's online state and last seen reach only people they chose
to talk with (created or wrote in a room shared with them), on every path that shows it:
GET /api/chat/presence and the inbox of every strategy, cached included."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.accounts.models import User
from app.chat import presence, services
from app.chat.models import Membership, Room
from app.conftest import ApiClient, login_client

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
