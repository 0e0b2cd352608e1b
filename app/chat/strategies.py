"""The inbox (a user's room list), side by side: ``naive`` room by room, ``optimized`` in two
queries. Both return the same entries for the same arguments (tests prove it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from app.accounts.models import User
from app.accounts.schemas import USER_SUMMARY_FIELDS
from app.chat.models import Membership, Message, Room

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


def _after(cursor: tuple[Any, ...] | None) -> Q:
    """Memberships whose room is older than a (last_message_at, room id) cursor."""
    if cursor is None:
        return Q()
    at, room_id = cursor
    assert isinstance(at, datetime)
    return Q(room__last_message_at__lt=at) | Q(room__last_message_at=at, room_id__lt=room_id)


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


def optimized(*, user: User, cursor: tuple[Any, ...] | None, limit: int) -> list[InboxEntry]:
    """Two queries whatever the page size: rooms with the denormalised last message and every
    unread count (a correlated count on the (room, id) index), then the other members."""
    unread = (
        Message.objects.filter(room_id=OuterRef("room_id"), id__gt=OuterRef("last_read_message_id"))
        .exclude(sender_id=user.pk)
        .order_by()
        .values("room_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    last = tuple(f"room__last_message__{name}" for name in _MESSAGE_FIELDS)
    last_sender = tuple(f"room__last_message__{name}" for name in _SENDER_FIELDS)
    memberships = list(
        _memberships(user=user, cursor=cursor, limit=limit)
        .select_related("room__last_message__sender")
        .only(*_ROOM_FIELDS, *last, *last_sender)
        .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), 0))
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


INBOX: dict[str, Callable[..., list[InboxEntry]]] = {"naive": naive, "optimized": optimized}
