"""Writes for chat: rooms, messages, read state, typing, shares; each broadcasts on commit."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import LockError

from app.accounts.models import User
from app.chat import events, selectors
from app.chat.models import MAX_GROUP_MEMBERS, Membership, Message, Room
from app.lab.api import ApiError, bad_request, not_found
from app.posts.selectors import post_visible_get

MAX_SHARE_TARGETS = 20
TYPING_THROTTLE_MS = 2000
# Per user: a steady RATE messages per second, bursts up to BURST. Settings may override both.
RATE_PER_SECOND = 5.0
RATE_BURST = 20

# A token bucket in one round trip: refill by elapsed time, take one token if there is one.
# The caller passes the time, so the script stays deterministic for replication.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'v')
local last = tonumber(state[1])
local tokens = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = burst
  last = now
end
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(now), 'v', tostring(tokens))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed
"""


def _key(*parts: object) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, "chat", *map(str, parts)])


def rate_limit_take(*, user_id: int) -> None:
    """Take one message token from the user's bucket; 429 ``rate_limited`` when empty."""
    rate = float(getattr(settings, "CHAT_RATE_PER_SECOND", RATE_PER_SECOND))
    burst = int(getattr(settings, "CHAT_RATE_BURST", RATE_BURST))
    conn = get_redis_connection("default")
    allowed = conn.register_script(_TOKEN_BUCKET)(
        keys=[_key("rate", user_id)], args=[rate, burst, f"{time.time():.6f}"]
    )
    if not allowed:
        raise ApiError(429, "rate_limited", "too many messages; slow down")


def _broadcast(deliveries: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """Send each payload to its user's group (every socket of that user), concurrently."""
    if not deliveries:
        return
    layer = get_channel_layer()
    assert layer is not None

    async def send_all() -> None:
        await asyncio.gather(
            *(
                layer.group_send(
                    events.user_group(user_id), {"type": "event.forward", "payload": payload}
                )
                for user_id, payload in deliveries
            )
        )

    async_to_sync(send_all)()


# --- Rooms ------------------------------------------------------------------------------


def dm_key(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}"


def room_dm_get_or_create(*, user: User, other: User) -> tuple[Room, bool]:
    """The one DM between two users; concurrent calls converge on the unique ``dm_key``."""
    if other.pk == user.pk:
        raise bad_request("invalid_members", "a DM needs another user")
    key = dm_key(user.pk, other.pk)
    room = Room.objects.filter(dm_key=key).first()
    if room is not None:
        return room, False
    try:
        with transaction.atomic():
            room = Room.objects.create(
                kind=Room.Kind.DM, dm_key=key, created_by=user, last_message_at=timezone.now()
            )
            Membership.objects.bulk_create(
                [Membership(room=room, user_id=user.pk), Membership(room=room, user_id=other.pk)]
            )
    except IntegrityError:
        # Another request created it between our read and our insert.
        return Room.objects.get(dm_key=key), False
    return room, True


def room_group_create(*, creator: User, others: Sequence[User], title: str) -> Room:
    member_ids = sorted({creator.pk, *(u.pk for u in others)})
    if len(member_ids) < 3:
        raise bad_request("invalid_members", "a group needs at least two other users")
    if len(member_ids) > MAX_GROUP_MEMBERS:
        raise bad_request("too_many_members", f"a group has at most {MAX_GROUP_MEMBERS} members")
    with transaction.atomic():
        room = Room.objects.create(
            kind=Room.Kind.GROUP, title=title, created_by=creator, last_message_at=timezone.now()
        )
        Membership.objects.bulk_create([Membership(room=room, user_id=uid) for uid in member_ids])
    return room


def room_open(*, user: User, usernames: Sequence[str], title: str = "") -> tuple[Room, bool]:
    """``POST /api/chat/rooms``: the DM with one other user, or a new group with several."""
    names = {User.normalize_username(name).lower() for name in usernames}
    others = [u for u in User.objects.filter(username__in=names) if u.pk != user.pk]
    if len(others) < len(names - {user.username}):
        raise not_found("user")
    if not others:
        raise bad_request("invalid_members", "name at least one other user")
    if len(others) == 1:
        return room_dm_get_or_create(user=user, other=others[0])
    return room_group_create(creator=user, others=others, title=title), True


# --- Messages ---------------------------------------------------------------------------


def _message_by_client_id(*, sender: User, client_id: uuid.UUID) -> Message | None:
    return Message.objects.filter(sender_id=sender.pk, client_id=client_id).first()


def _resend(existing: Message, *, sender: User, room_id: int) -> tuple[Message, bool]:
    if existing.room_id != room_id:
        raise ApiError(409, "client_id_conflict", "client_id was already used in another room")
    existing.sender = sender
    return existing, False


def message_send(
    *,
    sender: User,
    room_id: int,
    client_id: uuid.UUID,
    text: str,
    post_id: int | None = None,
) -> tuple[Message, bool]:
    """Persist a message, then broadcast ``message.new`` to every member on commit.

    Idempotent on (sender, client_id): a resend returns the stored message and broadcasts
    nothing (False as the second value). Resends cost no rate-limit token.
    """
    existing = _message_by_client_id(sender=sender, client_id=client_id)
    if existing is not None:
        return _resend(existing, sender=sender, room_id=room_id)
    if not text.strip() and post_id is None:
        raise bad_request("empty_message", "send text or a post")
    rate_limit_take(user_id=sender.pk)
    member_ids = selectors.room_member_ids(room_id=room_id)
    if sender.pk not in member_ids:
        raise selectors.not_member()
    post = post_visible_get(viewer=sender, post_id=post_id) if post_id is not None else None
    kind = Message.Kind.POST if post is not None else Message.Kind.TEXT
    try:
        with _room_order(room_id), transaction.atomic():
            message = Message.objects.create(
                room_id=room_id, sender=sender, kind=kind, text=text, post=post, client_id=client_id
            )
            newer = Q(last_message_id__isnull=True) | Q(last_message_id__lt=message.pk)
            Room.objects.filter(newer, pk=room_id).update(
                last_message=message, last_message_at=message.created_at
            )
            # The sender has read their own message: unread counts stay exact.
            Membership.objects.filter(
                room_id=room_id, user_id=sender.pk, last_read_message_id__lt=message.pk
            ).update(last_read_message_id=message.pk)
            transaction.on_commit(
                partial(_message_broadcast, message=message, member_ids=member_ids)
            )
    except IntegrityError:
        # A concurrent resend with the same client_id won the insert.
        existing = _message_by_client_id(sender=sender, client_id=client_id)
        if existing is None:
            raise
        return _resend(existing, sender=sender, room_id=room_id)
    return message, True


# Bounds how long one send may hold its room's order lock, and how long another waits for it.
ROOM_ORDER_LOCK_SECONDS = 5


@contextmanager
def _room_order(room_id: int) -> Iterator[None]:
    """Serialise a room's sends from insert to broadcast, across threads and processes.

    Ids are assigned in insert order, but two sends commit and publish in whatever order their
    threads run, so members could see 198 before 197. Holding a per-room Redis lock from the
    insert through the on-commit broadcast makes publish order equal id order. Should the lock
    be unavailable, the send goes ahead unordered: clients order by id and `sync` fills gaps.
    """
    lock = get_redis_connection("default").lock(
        _key("room-order", room_id),
        timeout=ROOM_ORDER_LOCK_SECONDS,
        blocking_timeout=ROOM_ORDER_LOCK_SECONDS,
    )
    acquired = lock.acquire()
    try:
        yield
    finally:
        if acquired:
            with suppress(LockError):
                lock.release()


def _message_broadcast(*, message: Message, member_ids: list[int]) -> None:
    post = message.post
    if post is None:
        frame = events.message_new(message=message, preview=None)
        _broadcast([(uid, frame) for uid in member_ids])
        return
    # A share renders per recipient: a private author's post is "unavailable" to those who
    # do not follow them.
    audience = selectors.post_share_audience(post=post, member_ids=member_ids)
    thumb = selectors.post_thumb_name(post_id=post.pk)
    frames = {
        visible: events.message_new(
            message=message,
            preview=events.post_preview(post=post, thumb=thumb, visible=visible),
        )
        for visible in (True, False)
    }
    _broadcast([(uid, frames[uid in audience]) for uid in member_ids])


def post_share(
    *,
    sender: User,
    post_id: int,
    usernames: Sequence[str],
    room_ids: Sequence[int],
    text: str,
    client_id: uuid.UUID | None,
) -> list[Message]:
    """Share a post into rooms and to users (their DMs) at once; one message per room.

    Each room's message gets a client id derived from ``client_id``, so a retried share
    duplicates nothing.
    """
    if len(usernames) + len(room_ids) > MAX_SHARE_TARGETS:
        raise bad_request("too_many_targets", f"share to at most {MAX_SHARE_TARGETS} targets")
    if not usernames and not room_ids:
        raise bad_request("no_targets", "name users or rooms to share with")
    post_visible_get(viewer=sender, post_id=post_id)
    targets = set(room_ids)
    mine = set(
        Membership.objects.filter(user_id=sender.pk, room_id__in=targets).values_list(
            "room_id", flat=True
        )
    )
    if mine != targets:
        raise selectors.not_member()
    for name in usernames:
        room, _ = room_open(user=sender, usernames=[name])
        targets.add(room.pk)
    base = client_id or uuid.uuid4()
    return [
        message_send(
            sender=sender,
            room_id=room_id,
            client_id=uuid.uuid5(base, str(room_id)),
            text=text,
            post_id=post_id,
        )[0]
        for room_id in sorted(targets)
    ]


# --- Read state and typing --------------------------------------------------------------


def message_read(*, user: User, room_id: int, message_id: int) -> bool:
    """Move the user's read mark forward to ``message_id``; broadcast ``read`` if it moved."""
    member_ids = selectors.room_member_ids(room_id=room_id)
    if user.pk not in member_ids:
        raise selectors.not_member()
    if not Message.objects.filter(room_id=room_id, pk=message_id).exists():
        raise not_found("message")
    with transaction.atomic():
        moved = Membership.objects.filter(
            room_id=room_id, user_id=user.pk, last_read_message_id__lt=message_id
        ).update(last_read_message_id=message_id)
        if moved:
            frame = events.read_event(room_id=room_id, user_id=user.pk, message_id=message_id)
            transaction.on_commit(partial(_broadcast, [(uid, frame) for uid in member_ids]))
    return bool(moved)


def typing_send(*, user: User, room_id: int) -> bool:
    """Tell the other members; at most once per throttle window per user and room."""
    member_ids = selectors.room_member_ids(room_id=room_id)
    if user.pk not in member_ids:
        raise selectors.not_member()
    conn = get_redis_connection("default")
    if not conn.set(_key("typing", room_id, user.pk), 1, nx=True, px=TYPING_THROTTLE_MS):
        return False
    frame = events.typing_event(room_id=room_id, user=user)
    _broadcast([(uid, frame) for uid in member_ids if uid != user.pk])
    return True
