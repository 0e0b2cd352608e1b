"""Writes for chat: rooms, messages, read state, typing, shares; each broadcasts on commit."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from app.accounts.models import User
from app.chat import events, limits, selectors
from app.chat.inboxcache import inbox_forget_on_commit, inbox_forget_queue
from app.chat.models import MAX_GROUP_MEMBERS, Membership, Message, Room
from app.core import degrade, realtime, redisops, redisroles
from app.core import events as domain_events
from app.lab.api import ApiError, bad_request, not_found
from app.lab.cache import raw_key
from app.posts.selectors import post_visible_get

log = logging.getLogger(__name__)

MAX_SHARE_TARGETS = 20
TYPING_THROTTLE_MS = 2000

# A send's admission in one round trip: a token, then the room's order lock (KEYS[2]) if the
# token was granted. Returns {allowed, locked}, and the tokens left when refused.
_ADMIT = (
    limits.TOKEN_BUCKET
    + """
if allowed == 0 then
  return {0, 0, tostring(tokens)}
end
if redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return {1, 1}
end
return {1, 0}
"""
)
# Gives back the token a send took when it turned out to be a resend.
_REFUND = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'v'))
if tokens ~= nil then
  redis.call('HSET', KEYS[1], 'v', tostring(math.min(tonumber(ARGV[1]), tokens + 1)))
end
return 0
"""


def _key(*parts: object) -> str:
    return raw_key("chat", *parts)


def _rate_settings() -> tuple[float, int]:
    return (
        float(settings.CHAT_RATE_PER_SECOND),
        int(settings.CHAT_RATE_BURST),
    )


def _broadcast(
    deliveries: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    unlock: RoomLock | None = None,
    forget: Sequence[int] = (),
) -> None:
    """Send each payload to its user's group (every socket of that user), then release
    ``unlock`` and drop the cached inbox pages of the users in ``forget``. Call it once the
    write behind the payloads has committed.

    With the pub/sub layer, this thread PUBLISHes directly, in one pipeline per server with
    the lock release and the inbox drops: with one Redis, one round trip, and no hop onto
    the event loop through ``async_to_sync`` (a worker thread's ``group_send`` costs both).
    Any other layer gets ``group_send``. The publishes are queued first, so they reach their
    servers before the lock that orders them is released.
    """
    batch = redisroles.Batch()
    if not realtime.queue(batch, deliveries):
        realtime.send(deliveries)
    if unlock is not None:
        batch.pipe("limits").eval(redisops.RELEASE_IF_HOLDER, 1, unlock.key, unlock.token)
    inbox_forget_queue(batch.pipe("cache"), user_ids=forget)
    batch.execute()


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
            inbox_forget_on_commit(user_ids=[user.pk, other.pk])
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
        inbox_forget_on_commit(user_ids=member_ids)
    return room


def room_rename(*, user: User, room_id: int, title: str) -> Room:
    """Retitle a group; any member may. Each member's inbox shows it on its next read."""
    member_ids = selectors.room_member_ids(room_id=room_id)
    if user.pk not in member_ids:
        raise selectors.not_member()
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        if room.kind != Room.Kind.GROUP:
            raise bad_request("not_a_group", "only a group has a title")
        room.title = title
        room.save(update_fields=["title"])
        inbox_forget_on_commit(user_ids=member_ids)
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


# One statement persists a send, atomic on its own outside a transaction: the membership
# check (and the member list the broadcast needs), the idempotent insert, the room's last
# message and the sender's read mark. ``id`` is NULL when (sender, client_id) exists already
# or the sender is not a member; ``members`` is NULL for a room without members (or none).
_SEND_SQL = f"""
WITH members AS (
    SELECT array_agg(user_id ORDER BY user_id) AS ids
    FROM {Membership._meta.db_table} WHERE room_id = %(room)s
), inserted AS (
    INSERT INTO {Message._meta.db_table}
        (room_id, sender_id, kind, text, post_id, client_id, created_at)
    SELECT %(room)s, %(sender)s, %(kind)s, %(text)s, %(post)s, %(client_id)s, %(now)s
    FROM members WHERE %(sender)s = ANY (members.ids)
    ON CONFLICT ON CONSTRAINT message_idempotency DO NOTHING
    RETURNING id
), room AS (
    UPDATE {Room._meta.db_table} AS r
    SET last_message_id = inserted.id, last_message_at = %(now)s
    FROM inserted
    WHERE r.id = %(room)s AND (r.last_message_id IS NULL OR r.last_message_id < inserted.id)
), mark AS (
    UPDATE {Membership._meta.db_table} AS m SET last_read_message_id = inserted.id
    FROM inserted
    WHERE m.room_id = %(room)s AND m.user_id = %(sender)s
      AND m.last_read_message_id < inserted.id
)
SELECT members.ids, (SELECT id FROM inserted) FROM members
"""

# Bounds how long one send may hold its room's order lock, and how long another waits for it.
ROOM_ORDER_LOCK_SECONDS = 5


@dataclass(frozen=True)
class RoomLock:
    """A held room order lock: its key and the token that proves it is ours."""

    key: str
    token: str


def _admit(*, user_id: int, room_id: int) -> tuple[float, RoomLock | None]:
    """Take a rate-limit token and, if granted, the room's order lock: one round trip.

    Returns (0, the lock or None) when admitted, else (seconds until a token is due, None).
    Raises Unavailable when Redis is unreachable (or the process's breaker, app/core/degrade.py,
    says it is): without the limiter nothing is admitted.

    Ids are assigned in insert order, but two sends publish in whatever order their threads
    run, so members could see 198 before 197. Holding a per-room lock from before the insert
    until the broadcast makes publish order equal id order, across threads and processes.
    A busy lock is waited for (bounded); should it stay unavailable, the send goes ahead
    unordered: clients order by id, and ``sync`` fills gaps.
    """
    if not degrade.redis_up():
        raise limits.Unavailable()
    conn = redisroles.connection("limits")
    lock = RoomLock(key=_key("room-order", room_id), token=secrets.token_hex(8))
    ttl_ms = ROOM_ORDER_LOCK_SECONDS * 1000
    rate, burst = _rate_settings()
    try:
        allowed, locked, *left = limits.script(_ADMIT)(
            keys=[_key("rate", user_id), lock.key],
            args=[rate, burst, f"{time.time():.6f}", lock.token, ttl_ms],
            client=conn,
        )
        if not allowed:
            return (1 - float(left[0])) / rate, None
        deadline = time.monotonic() + ROOM_ORDER_LOCK_SECONDS
        while not locked and time.monotonic() < deadline:
            time.sleep(0.001)
            locked = conn.set(lock.key, lock.token, nx=True, px=ttl_ms)
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
        raise limits.Unavailable() from exc
    return 0.0, lock if locked else None


def _release(lock: RoomLock | None, *, refund_user_id: int | None = None) -> None:
    """Release the lock (if held) and give back the user's token, in one round trip.

    Best effort: should Redis be gone, the lock expires on its own and the token is lost.
    """
    pipe = redisroles.connection("limits").pipeline(transaction=False)
    if lock is not None:
        pipe.eval(redisops.RELEASE_IF_HOLDER, 1, lock.key, lock.token)
    if refund_user_id is not None:
        pipe.eval(_REFUND, 1, _key("rate", refund_user_id), _rate_settings()[1])
    try:
        pipe.execute()
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)


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

    A text message costs three round trips: Redis admits it (a token and the room's order
    lock, one script), one SQL statement checks membership and persists, and one Redis
    pipeline publishes to every member, releases the lock and drops every member's cached
    inbox pages.
    """
    if not text.strip() and post_id is None:
        raise bad_request("empty_message", "send text or a post")
    post = post_visible_get(viewer=sender, post_id=post_id) if post_id is not None else None
    kind = Message.Kind.POST if post is not None else Message.Kind.TEXT
    wait, lock = _admit(user_id=sender.pk, room_id=room_id)
    if wait > 0:
        existing = _message_by_client_id(sender=sender, client_id=client_id)
        if existing is not None:
            return _resend(existing, sender=sender, room_id=room_id)
        raise limits.RateLimited("too many messages; slow down", retry_after=wait)
    now = timezone.now()
    params: dict[str, Any] = {
        "room": room_id,
        "sender": sender.pk,
        "kind": kind.value,
        "text": text,
        "post": post.pk if post is not None else None,
        "client_id": client_id,
        "now": now,
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute(_SEND_SQL, params)
            row = cursor.fetchone()
    except BaseException:
        _release(lock)
        raise
    member_ids, message_id = row if row is not None else (None, None)
    if not member_ids or sender.pk not in member_ids:
        _release(lock)
        raise selectors.not_member()
    if message_id is None:
        # Stored before (a resend), perhaps by a concurrent request that won the insert.
        _release(lock, refund_user_id=sender.pk)
        existing = _message_by_client_id(sender=sender, client_id=client_id)
        if existing is None:
            raise ApiError(409, "client_id_conflict", "client_id is being used concurrently")
        return _resend(existing, sender=sender, room_id=room_id)
    message = Message(
        pk=message_id,
        room_id=room_id,
        sender=sender,
        kind=kind,
        text=text,
        post=post,
        client_id=client_id,
        created_at=now,
    )
    if connection.in_atomic_block:
        # Inside someone's transaction: publish only once it commits; order is best effort.
        _release(lock)
        transaction.on_commit(partial(_message_broadcast, message=message, member_ids=member_ids))
    else:
        _message_broadcast(message=message, member_ids=member_ids, unlock=lock)
    return message, True


def _message_broadcast(
    *, message: Message, member_ids: list[int], unlock: RoomLock | None = None
) -> None:
    """Publish a stored message; never fails the send that stored it.

    Should Redis be unreachable, the message stays stored and acknowledged: members receive
    it with their next ``sync``, and the room's order lock expires on its own.
    """
    try:
        _message_publish(message=message, member_ids=member_ids, unlock=unlock)
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
        log.warning("chat message %s stored, not published (%s)", message.pk, type(exc).__name__)


def _message_publish(*, message: Message, member_ids: list[int], unlock: RoomLock | None) -> None:
    post = message.post
    if post is None:
        frame = events.message_new(message=message, preview=None)
        _broadcast([(uid, frame) for uid in member_ids], unlock=unlock, forget=member_ids)
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
    _broadcast(
        [(uid, frames[uid in audience]) for uid in member_ids], unlock=unlock, forget=member_ids
    )


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
    messages = [
        message_send(
            sender=sender,
            room_id=room_id,
            client_id=uuid.uuid5(base, str(room_id)),
            text=text,
            post_id=post_id,
        )[0]
        for room_id in sorted(targets)
    ]
    # Whom it was sent to by name hears of it as a notification too (once: a retry is quiet).
    domain_events.emit(domain_events.PostShared(sender.pk, post_id, tuple(usernames)))
    return messages


# --- Read state and typing --------------------------------------------------------------


def message_read(*, user: User, room_id: int, message_id: int) -> bool:
    """Move the user's read mark forward to ``message_id``; broadcast ``read`` if it moved."""
    member_ids = selectors.room_member_ids(room_id=room_id)
    if user.pk not in member_ids:
        raise selectors.not_member()
    if not Message.objects.filter(room_id=room_id, pk=message_id).exists():
        raise not_found("message")
    table = connection.ops.quote_name(Membership._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_read_message_id = %s "
            "WHERE room_id = %s AND user_id = %s AND last_read_message_id < %s "
            "RETURNING accepted_at IS NOT NULL",
            [message_id, room_id, user.pk, message_id],
        )
        row = cursor.fetchone()
        if row is not None:
            frame = events.read_event(room_id=room_id, user_id=user.pk, message_id=message_id)
            # A receipt tells the others what the reader does, as presence does: only once the
            # reader has accepted the room (docs/reliability.md, privacy). The reader's own
            # other sockets always learn it, to keep their unread counts in step.
            audience = member_ids if row[0] else [user.pk]
            deliveries = [(uid, frame) for uid in audience]
            # Only the reader's unread count changed.
            transaction.on_commit(partial(_broadcast, deliveries, forget=[user.pk]))
    return row is not None


def typing_send(*, user: User, room_id: int) -> bool:
    """Tell the other members; at most once per throttle window per user and room."""
    member_ids = selectors.room_member_ids(room_id=room_id)
    if user.pk not in member_ids:
        raise selectors.not_member()
    conn = redisroles.connection("limits")
    if not conn.set(_key("typing", room_id, user.pk), 1, nx=True, px=TYPING_THROTTLE_MS):
        return False
    frame = events.typing_event(room_id=room_id, user=user)
    _broadcast([(uid, frame) for uid in member_ids if uid != user.pk])
    return True
