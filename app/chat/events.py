"""Every WebSocket frame, both ways, defined once; the builders that make server frames."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from django.core.files.storage import default_storage
from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, WithJsonSchema
from typing_extensions import TypedDict

from app.accounts.models import User
from app.chat.models import MESSAGE_MAX, Message
from app.core.text import CleanText
from app.posts.models import Post

CAPTION_EXCERPT = 100
ID_MAX = 2**63 - 1


# --- Server -> client -------------------------------------------------------------------


class SenderOut(TypedDict):
    id: int
    username: str
    avatar_url: str | None


class PostPreview(TypedDict):
    """A shared post as one recipient may see it; ``available`` False hides everything else."""

    id: int | None
    available: bool
    author: SenderOut | None
    thumb_url: str | None
    caption: str


class MessageOut(TypedDict):
    """A message as one viewer sees it: the chat API's message, and the ``message.new`` frame
    but for its ``type`` (one shape for both, so the history and the live frames agree)."""

    id: int
    room: int
    client_id: str
    sender: SenderOut
    kind: Literal["text", "post"]
    text: str
    post: PostPreview | None
    created_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class MessageNew(MessageOut):
    type: Literal["message.new"]


class MessageAck(TypedDict):
    type: Literal["message.ack"]
    id: int
    room: int
    client_id: str
    created_at: str


class TypingEvent(TypedDict):
    type: Literal["typing"]
    room: int
    user: SenderOut


class ReadEvent(TypedDict):
    type: Literal["read"]
    room: int
    user: int
    message: int


class SyncDone(TypedDict):
    """Ends a ``sync`` replay; with ``more`` the client syncs again from ``last``."""

    type: Literal["sync.done"]
    last: int
    more: bool


class Pong(TypedDict):
    """Answers a client ``ping``: the socket and the server behind it are alive."""

    type: Literal["pong"]


class ErrorEvent(TypedDict):
    """A refused frame. ``client_id`` and ``room`` name the frame when it could be read;
    ``retry_after`` (seconds) comes with ``rate_limited`` and ``unavailable``."""

    type: Literal["error"]
    code: str
    message: str
    client_id: str | None
    room: int | None
    retry_after: float | None


# Validates any server frame in tests: each emitter's output must parse as its own type.
ServerFrame = MessageNew | MessageAck | TypingEvent | ReadEvent | SyncDone | Pong | ErrorEvent
SERVER_FRAME: TypeAdapter[ServerFrame] = TypeAdapter(
    Annotated[ServerFrame, Field(discriminator="type")]
)


def sender_of(user: User) -> SenderOut:
    return {
        "id": user.pk,
        "username": user.username,
        "avatar_url": user.avatar.url if user.avatar else None,
    }


def post_preview(*, post: Post | None, thumb: str | None, visible: bool) -> PostPreview:
    """``post`` with its author loaded; ``thumb`` is the first image's stored name."""
    if post is None or not visible:
        return {"id": None, "available": False, "author": None, "thumb_url": None, "caption": ""}
    caption = post.caption
    if len(caption) > CAPTION_EXCERPT:
        caption = caption[: CAPTION_EXCERPT - 1].rstrip() + "…"
    return {
        "id": post.pk,
        "available": True,
        "author": sender_of(post.author),
        "thumb_url": default_storage.url(thumb) if thumb else None,
        "caption": caption,
    }


def message_new(*, message: Message, preview: PostPreview | None) -> MessageNew:
    """``message`` with its sender loaded; ``preview`` is computed for the recipient."""
    return {
        "type": "message.new",
        "id": message.pk,
        "room": message.room_id,
        "client_id": str(message.client_id),
        "sender": sender_of(message.sender),
        "kind": "post" if message.kind == Message.Kind.POST else "text",
        "text": message.text,
        "post": preview if message.kind == Message.Kind.POST else None,
        "created_at": message.created_at.isoformat(),
    }


def message_ack(*, message: Message) -> MessageAck:
    return {
        "type": "message.ack",
        "id": message.pk,
        "room": message.room_id,
        "client_id": str(message.client_id),
        "created_at": message.created_at.isoformat(),
    }


def typing_event(*, room_id: int, user: User) -> TypingEvent:
    return {"type": "typing", "room": room_id, "user": sender_of(user)}


def read_event(*, room_id: int, user_id: int, message_id: int) -> ReadEvent:
    return {"type": "read", "room": room_id, "user": user_id, "message": message_id}


def sync_done(*, last: int, more: bool) -> SyncDone:
    return {"type": "sync.done", "last": last, "more": more}


def pong() -> Pong:
    return {"type": "pong"}


def error_event(
    *,
    code: str,
    message: str,
    client_id: str | None = None,
    room: int | None = None,
    retry_after: float | None = None,
) -> ErrorEvent:
    return {
        "type": "error",
        "code": code,
        "message": message,
        "client_id": client_id,
        "room": room,
        "retry_after": retry_after,
    }


# --- Client -> server -------------------------------------------------------------------

RoomId = Annotated[StrictInt, Field(ge=1, le=ID_MAX)]
# The rule every API text field follows (app/core/text.py): no NUL, no C0 control but tab and
# line breaks, no DEL, no lone surrogate. PostgreSQL refuses NUL, which used to kill the socket.
MessageText = Annotated[CleanText, Field(max_length=MESSAGE_MAX)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SendFrame(_Frame):
    """``text`` or ``post`` (a post id to share, with optional ``text``)."""

    type: Literal["message.send"]
    room: RoomId
    client_id: UUID
    text: MessageText = ""
    post: RoomId | None = None


class TypingFrame(_Frame):
    type: Literal["typing"]
    room: RoomId


class ReadFrame(_Frame):
    type: Literal["read"]
    room: RoomId
    message: RoomId


class SyncFrame(_Frame):
    type: Literal["sync"]
    since: Annotated[StrictInt, Field(ge=0, le=ID_MAX)]


class PingFrame(_Frame):
    """The heartbeat: keeps the sender's presence fresh and is answered with ``pong``."""

    type: Literal["ping"]


ClientFrame = SendFrame | TypingFrame | ReadFrame | SyncFrame | PingFrame
# Each client frame's ``type`` tag, in the union's order: what an unknown type is told.
CLIENT_FRAME_TYPES: tuple[str, ...] = tuple(
    get_args(frame.model_fields["type"].annotation)[0] for frame in get_args(ClientFrame)
)
CLIENT_FRAME: TypeAdapter[ClientFrame] = TypeAdapter(
    Annotated[ClientFrame, Field(discriminator="type")]
)


def client_frame_parse(content: Any) -> ClientFrame:
    """Raises pydantic.ValidationError on anything that is not one of the client frames."""
    return CLIENT_FRAME.validate_python(content)
