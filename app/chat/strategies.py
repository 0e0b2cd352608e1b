"""The inbox (a user's room list), side by side: ``naive`` room by room, ``optimized`` in two
queries, ``cached`` from Redis (no SQL when warm). All return the same rooms for the same
arguments (tests prove it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from app.accounts.models import User
from app.accounts.schemas import USER_SUMMARY_FIELDS
from app.chat import inboxcache
from app.chat.models import Membership, Message, Room
from app.chat.presence import Presence
from app.chat.schemas import LastMessageOut
from app.core.keyset import keyset_past
from app.lab.api import json_bytes
from app.lab.strategies import HotPath

_ROOM_FIELDS = (
    "id",
    "room_id",
    "user_id",
    "last_read_message_id",
    "room__id",
    "room__kind",
    "room__title",
    "room__created_at",
    "room__last_message_at",
    "room__last_message_id",
)
_MESSAGE_FIELDS = ("id", "room_id", "sender_id", "kind", "text", "post_id", "created_at")
_SENDER_FIELDS = tuple(f"sender__{name}" for name in USER_SUMMARY_FIELDS)


@dataclass(frozen=True)
class InboxEntry:
    room: Room
    members: list[User]  # everyone but the viewer, by id
    last_message: Message | None
    unread: int

    @property
    def member_ids(self) -> list[int]:
        return [member.pk for member in self.members]

    def cursor_key(self) -> tuple[datetime | None, int]:
        return self.room.last_message_at, self.room.pk


class CachedRoom:
    """One inbox room from the cache: its JSON fields, and its other members' ids; the
    selector adds the members' summaries (:attr:`members`) before it is rendered."""

    __slots__ = ("id", "member_ids", "members", "micros", "row")

    def __init__(self, row: list[Any]) -> None:
        self.row = row
        self.id: int = row[0]
        self.micros: int | None = row[1]
        self.member_ids: list[int] = row[2]
        self.members: list[dict[str, Any]] = []

    def cursor_key(self) -> tuple[datetime | None, int]:
        return inboxcache.micros_at(self.micros), self.id

    def render(self, presence: Mapping[int, Presence]) -> dict[str, Any]:
        """The room as RoomOut sends it."""
        _, _, _, kind, title, last_message, unread, last_activity_at = self.row
        members = []
        for member in self.members:
            online, last_seen = presence.get(member["id"]) or (False, None)
            members.append({**member, "online": online, "last_seen": last_seen})
        return {
            "id": self.id,
            "kind": kind,
            "title": title,
            "members": members,
            "last_message": last_message,
            "unread": unread,
            "last_activity_at": last_activity_at,
        }


def _after(cursor: tuple[Any, ...] | None) -> Q:
    """Memberships whose room is older than a (last_message_at, room id) cursor."""
    assert cursor is None or isinstance(cursor[0], datetime)
    return keyset_past(cursor, field="room__last_message_at", id_field="room_id")


def _memberships(*, user: User, cursor: tuple[Any, ...] | None, limit: int) -> Any:
    return (
        Membership.objects.filter(_after(cursor), user_id=user.pk)
        .select_related("room")
        .order_by(F("room__last_message_at").desc(nulls_last=True), "-room_id")[: limit + 1]
    )


def naive(*, user: User, cursor: tuple[Any, ...] | None, limit: int) -> list[InboxEntry]:
    """The first version's shape: three queries per room. The lab baseline, N+1 on purpose."""
    entries = []
    for membership in _memberships(user=user, cursor=cursor, limit=limit).only(*_ROOM_FIELDS):
        room_id = membership.room_id
        members = list(
            User.objects.filter(memberships__room_id=room_id)
            .exclude(pk=user.pk)
            .only(*USER_SUMMARY_FIELDS)
            .order_by("id")
        )
        last = (
            Message.objects.filter(room_id=room_id)
            .select_related("sender")
            .only(*_MESSAGE_FIELDS, *_SENDER_FIELDS)
            .order_by("-id")
            .first()
        )
        unread = (
            Message.objects.filter(room_id=room_id, id__gt=membership.last_read_message_id)
            .exclude(sender_id=user.pk)
            .count()
        )
        entries.append(InboxEntry(membership.room, members, last, unread))
    return entries


def _unread(user: User) -> Coalesce:
    """A membership's unread count: a correlated count on the (room, id) index."""
    unread = (
        Message.objects.filter(room_id=OuterRef("room_id"), id__gt=OuterRef("last_read_message_id"))
        .exclude(sender_id=user.pk)
        .order_by()
        .values("room_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(unread, output_field=IntegerField()), 0)


def optimized(*, user: User, cursor: tuple[Any, ...] | None, limit: int) -> list[InboxEntry]:
    """Two queries whatever the page size: rooms with the denormalised last message and every
    unread count (a correlated count on the (room, id) index), then the other members."""
    last = tuple(f"room__last_message__{name}" for name in _MESSAGE_FIELDS)
    last_sender = tuple(f"room__last_message__{name}" for name in _SENDER_FIELDS)
    memberships = list(
        _memberships(user=user, cursor=cursor, limit=limit)
        .select_related("room__last_message__sender")
        .only(*_ROOM_FIELDS, *last, *last_sender)
        .annotate(unread=_unread(user))
    )
    others: dict[int, list[User]] = {m.room_id: [] for m in memberships}
    rows = (
        Membership.objects.filter(room_id__in=others)
        .exclude(user_id=user.pk)
        .select_related("user")
        .only("id", "room_id", "user_id", *(f"user__{name}" for name in USER_SUMMARY_FIELDS))
        .order_by("room_id", "user_id")
    )
    for row in rows:
        others[row.room_id].append(row.user)
    return [
        InboxEntry(m.room, others[m.room_id], m.room.last_message, m.unread) for m in memberships
    ]


def _page_build(*, user: User, cursor: tuple[Any, ...] | None, limit: int) -> bytes:
    """A page as the cache stores it, in two queries: rooms with the last message and every
    unread count (optimized's first query, without the sender), then the member ids."""
    last = tuple(f"room__last_message__{name}" for name in _MESSAGE_FIELDS)
    memberships = list(
        _memberships(user=user, cursor=cursor, limit=limit)
        .select_related("room__last_message")
        .only(*_ROOM_FIELDS, *last)
        .annotate(unread=_unread(user))
    )
    others: dict[int, list[int]] = {m.room_id: [] for m in memberships}
    rows = (
        Membership.objects.filter(room_id__in=others)
        .exclude(user_id=user.pk)
        .order_by("room_id", "user_id")
        .values_list("room_id", "user_id")
    )
    for room_id, member_id in rows:
        others[room_id].append(member_id)
    page = []
    for m in memberships:
        room, message = m.room, m.room.last_message
        # The fields in RoomOut's order, plus the member ids and the exact activity time
        # (the cursor's; the JSON's datetime is cut to milliseconds).
        page.append(
            [
                room.pk,
                inboxcache.at_micros(room.last_message_at),
                others[m.room_id],
                "dm" if room.kind == Room.Kind.DM else "group",
                room.title,
                LastMessageOut.of(message) if message is not None else None,
                m.unread,
                room.last_message_at,
            ]
        )
    return json_bytes(page)


def cached(*, user: User, cursor: tuple[Any, ...] | None, limit: int) -> list[CachedRoom]:
    """The page from Redis: one round trip and no SQL when warm; on a miss, built in two
    queries and stored unless a write came in meanwhile (see app/chat/inboxcache.py)."""
    field = inboxcache.page_field(cursor=cursor, limit=limit)
    raw, generation = inboxcache.page_get(user_id=user.pk, field=field)
    if raw is None:
        raw = _page_build(user=user, cursor=cursor, limit=limit)
        inboxcache.page_fill(user_id=user.pk, field=field, generation=generation, body=raw)
    return [CachedRoom(row) for row in orjson.loads(raw)]


Entry = InboxEntry | CachedRoom


class InboxStrategy(Protocol):
    def __call__(
        self, *, user: User, cursor: tuple[Any, ...] | None, limit: int
    ) -> Sequence[Entry]:
        """Up to ``limit`` + 1 of the user's rooms, newest activity first, after ``cursor``."""
        ...


# The default (the best one) first.
STRATEGIES: Mapping[str, InboxStrategy] = {"cached": cached, "optimized": optimized, "naive": naive}
# The catalogue's entry (app/lab/strategies.py); without Redis, cached's SQL twin serves.
HOT_PATH = HotPath("inbox", STRATEGIES, without_redis={"cached": "optimized"})
