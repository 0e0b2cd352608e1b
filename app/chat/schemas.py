"""API shapes for chat: the inbox (with presence), rooms, messages, shares and presence."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal
from uuid import UUID

from ninja import Field, Schema

from app.accounts.models import User
from app.accounts.schemas import UserSummary

# MessageOut is the message.new frame's shape (app/chat/events.py), named here with the API's.
from app.chat.events import ID_MAX
from app.chat.events import MessageOut as MessageOut
from app.chat.models import MAX_GROUP_MEMBERS, MESSAGE_MAX, Message
from app.chat.presence import Presence
from app.core.text import CleanStr, CleanText

if TYPE_CHECKING:
    from app.chat.strategies import InboxEntry

PREVIEW_CHARS = 100
Username = Annotated[CleanStr, Field(min_length=1, max_length=30)]
Id = Annotated[int, Field(ge=1, le=ID_MAX)]


class LastMessageOut(Schema):
    id: int
    sender_id: int
    kind: Literal["text", "post"]
    text: str
    created_at: datetime

    @staticmethod
    def of(message: Message) -> LastMessageOut:
        return LastMessageOut(
            id=message.pk,
            sender_id=message.sender_id,
            kind="post" if message.kind == Message.Kind.POST else "text",
            text=message.text[:PREVIEW_CHARS],
            created_at=message.created_at,
        )


class MemberOut(UserSummary):
    """A room member with presence: ``last_seen`` is their latest heartbeat or disconnect."""

    online: bool
    last_seen: datetime | None

    @staticmethod
    def of_member(user: User, presence: Presence | None) -> MemberOut:
        online, last_seen = presence or (False, None)
        return MemberOut(**UserSummary.of(user).model_dump(), online=online, last_seen=last_seen)


class RoomOut(Schema):
    id: int
    kind: Literal["dm", "group"]
    title: str
    members: list[MemberOut]
    last_message: LastMessageOut | None
    unread: int
    last_activity_at: datetime | None

    @staticmethod
    def of(entry: InboxEntry, presence: Mapping[int, Presence]) -> RoomOut:
        room = entry.room
        return RoomOut(
            id=room.pk,
            kind="dm" if room.kind == room.Kind.DM else "group",
            title=room.title,
            members=[MemberOut.of_member(user, presence.get(user.pk)) for user in entry.members],
            last_message=LastMessageOut.of(entry.last_message) if entry.last_message else None,
            unread=entry.unread,
            last_activity_at=room.last_message_at,
        )


class RoomPage(Schema):
    items: list[RoomOut]
    next_cursor: str | None


class RoomOpenIn(Schema):
    """One other username opens (or finds) the DM; several create a group."""

    users: list[Username] = Field(min_length=1, max_length=MAX_GROUP_MEMBERS)
    title: CleanStr = Field("", max_length=80)


class RoomOpenOut(Schema):
    id: int
    kind: Literal["dm", "group"]
    created: bool


class ReadMarkOut(Schema):
    """A member's read mark: they have read ``message`` and everything before it."""

    user: int
    message: int


class MessagePage(Schema):
    """``reads``: the other members' read marks, of those who accepted the room."""

    items: list[MessageOut]
    next_cursor: str | None
    reads: list[ReadMarkOut]


class UnreadRoomsOut(Schema):
    """How many of the viewer's rooms have unread messages."""

    rooms: int


class MessageSendIn(Schema):
    client_id: UUID
    text: CleanText = Field("", max_length=MESSAGE_MAX)
    post: Id | None = None


class ShareIn(Schema):
    users: list[Username] = Field(default_factory=list, max_length=20)
    rooms: list[Id] = Field(default_factory=list, max_length=20)
    text: CleanText = Field("", max_length=MESSAGE_MAX)
    client_id: UUID | None = None


class ShareOut(Schema):
    items: list[MessageOut]


class PresenceOut(Schema):
    id: int
    online: bool
    last_seen: datetime | None


class PresenceList(Schema):
    """Only users who share a room with the viewer; other ids are left out."""

    items: list[PresenceOut]
