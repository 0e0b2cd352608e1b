"""Chat endpoints under /api/chat (inbox, rooms, history, HTTP send) and the post share."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from app.chat import selectors, services
from app.chat.events import ID_MAX
from app.chat.schemas import (
    MessageOut,
    MessagePage,
    MessageSendIn,
    PresenceList,
    RoomOpenIn,
    RoomOpenOut,
    RoomOut,
    RoomPage,
    ShareIn,
    ShareOut,
    UnreadRoomsOut,
)
from app.chat.strategies import InboxEntry
from app.core.auth import auth_user
from app.core.text import CleanStr
from app.lab.api import PathId, auth, bad_request, json_response

router = Router()
share_router = Router()


@router.get("/rooms", auth=auth, response=RoomPage)
def room_inbox(
    request: HttpRequest, cursor: CleanStr | None = None, limit: int | None = None
) -> HttpResponse:
    """The inbox, newest activity first, with other members (and their presence), last
    message and unread."""
    result = selectors.room_inbox(user=auth_user(request), cursor=cursor, limit=limit)
    presence = result.pop("presence")
    items = [
        RoomOut.of(entry, presence) if isinstance(entry, InboxEntry) else entry.render(presence)
        for entry in result["items"]
    ]
    # Built from schemas (or, cached, from stored JSON): no second validation by ninja.
    return json_response({**result, "items": items})


@router.get("/unread", auth=auth, response=UnreadRoomsOut)
def unread_count(request: HttpRequest) -> dict[str, int]:
    """How many rooms have unread messages (the Messages badge); no SQL when cached."""
    return {"rooms": selectors.unread_room_count(user=auth_user(request))}


def _user_ids(raw: str) -> list[int]:
    """``1,2,3`` as distinct ids, at most PRESENCE_MAX of them; 400 on anything else."""
    parts = raw.split(",")
    if len(parts) > selectors.PRESENCE_MAX:
        raise bad_request("too_many_users", f"ask for at most {selectors.PRESENCE_MAX} users")
    # The length check first: int() refuses strings of over 4,300 digits with a ValueError.
    if not all(
        part.isascii() and part.isdigit() and len(part) <= 19 and 1 <= int(part) <= ID_MAX
        for part in parts
    ):
        raise bad_request("invalid_users", "users is a comma-separated list of user ids")
    return list(dict.fromkeys(int(part) for part in parts))


@router.get("/presence", auth=auth, response=PresenceList)
def presence_list(request: HttpRequest, users: CleanStr) -> dict[str, Any]:
    """Online and last seen for ``?users=1,2`` (at most 50), of those who share a room with
    you; other ids are left out."""
    found = selectors.presence_visible(user=auth_user(request), user_ids=_user_ids(users))
    return {"items": [{"id": uid, **p._asdict()} for uid, p in found.items()]}


@router.post("/rooms", auth=auth, response={200: RoomOpenOut, 201: RoomOpenOut})
def room_open(request: HttpRequest, payload: RoomOpenIn) -> Status[RoomOpenOut]:
    """Get or create the DM with one user (idempotent), or create a group with several."""
    room, created = services.room_open(
        user=auth_user(request), usernames=payload.users, title=payload.title
    )
    body = RoomOpenOut(
        id=room.pk, kind="dm" if room.kind == room.Kind.DM else "group", created=created
    )
    return Status(201 if created else 200, body)


@router.get("/rooms/{room_id}/messages", auth=auth, response=MessagePage)
def message_history(
    request: HttpRequest,
    room_id: PathId,
    before: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    cursor: CleanStr | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Newest first; page with ``cursor`` (or ``before``, a message id)."""
    result = selectors.message_history_page(
        user=auth_user(request), room_id=room_id, before=before, cursor=cursor, limit=limit
    )
    return {**result, "items": [selectors.message_frame(m) for m in result["items"]]}


@router.post("/rooms/{room_id}/messages", auth=auth, response={200: MessageOut, 201: MessageOut})
def message_send(request: HttpRequest, room_id: PathId, payload: MessageSendIn) -> Status[Any]:
    """The HTTP fallback: delivered live like a socket send; a resend answers 200."""
    message, created = services.message_send(
        sender=auth_user(request),
        room_id=room_id,
        client_id=payload.client_id,
        text=payload.text,
        post_id=payload.post,
    )
    shaped = selectors.message_queryset(viewer_id=message.sender_id).get(pk=message.pk)
    return Status(201 if created else 200, selectors.message_frame(shaped))


@share_router.post("/posts/{post_id}/share", auth=auth, response={201: ShareOut})
def post_share(request: HttpRequest, post_id: PathId, payload: ShareIn) -> Status[Any]:
    """Send a post to several users (their DMs) and rooms at once."""
    me = auth_user(request)
    messages = services.post_share(
        sender=me,
        post_id=post_id,
        usernames=payload.users,
        room_ids=payload.rooms,
        text=payload.text,
        client_id=payload.client_id,
    )
    shaped = selectors.message_queryset(viewer_id=me.pk).filter(pk__in=[m.pk for m in messages])
    return Status(201, {"items": [selectors.message_frame(m) for m in shaped.order_by("room_id")]})
