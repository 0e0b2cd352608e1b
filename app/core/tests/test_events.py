"""The domain-event bus: handlers by event type, in order, inside the emitter's transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import pytest
from django.db import transaction

from app.accounts.models import User
from app.core import events


@dataclass(frozen=True)
class Pinged:
    """An event of the tests' own, so no app's real handler runs."""

    who: int


@dataclass(frozen=True)
class Ponged:
    who: int


@pytest.fixture
def heard() -> Iterator[list[tuple[str, object]]]:
    got: list[tuple[str, object]] = []

    def first(event: Pinged) -> None:
        got.append(("first", event))

    def second(event: Pinged) -> None:
        got.append(("second", event))

    events.subscribe(Pinged, first)
    events.subscribe(Pinged, second)
    events.subscribe(Pinged, first)  # twice: still called once
    yield got
    events.unsubscribe(Pinged, first)
    events.unsubscribe(Pinged, second)


def test_handlers_run_once_each_in_subscription_order(heard):
    events.emit(Pinged(7))
    assert heard == [("first", Pinged(7)), ("second", Pinged(7))]


def test_an_event_reaches_only_its_own_types_handlers(heard):
    events.emit(Ponged(7))
    assert heard == []


def test_an_event_with_no_handlers_is_fine():
    events.emit(Ponged(1))
    events.unsubscribe(Ponged, print)  # never subscribed: ignored


def test_unsubscribed_handlers_are_not_called(heard):
    events.unsubscribe(Pinged, events._handlers[Pinged][0])
    events.emit(Pinged(1))
    assert [name for name, _ in heard] == ["second"]


def test_events_are_immutable():
    event = events.PostLiked(actor_id=1, post_id=2, post_author_id=3)
    with pytest.raises(FrozenInstanceError):
        event.actor_id = 4


@pytest.mark.django_db
def test_a_handler_write_commits_or_rolls_back_with_the_emitters_transaction():
    def write(event: Pinged) -> None:
        User.objects.filter(pk=event.who).update(bio="pinged")

    def fail(event: Pinged) -> None:
        raise RuntimeError("handler failed")

    user = User.objects.create_user(username="dana", password="lab-password")
    events.subscribe(Pinged, write)
    events.subscribe(Pinged, fail)
    try:
        with pytest.raises(RuntimeError, match="handler failed"), transaction.atomic():
            User.objects.filter(pk=user.pk).update(name="Dana")
            events.emit(Pinged(user.pk))
    finally:
        events.unsubscribe(Pinged, write)
        events.unsubscribe(Pinged, fail)
    user.refresh_from_db()
    assert (user.name, user.bio) == ("", "")  # the action and the handler's write: both undone

    with transaction.atomic():
        events.subscribe(Pinged, write)
        try:
            events.emit(Pinged(user.pk))
        finally:
            events.unsubscribe(Pinged, write)
    user.refresh_from_db()
    assert user.bio == "pinged"


def test_the_bus_imports_no_app():
    source = Path(events.__file__).read_text()
    assert not re.search(r"^\s*(from|import) app\b", source, re.MULTILINE)
