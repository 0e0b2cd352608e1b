"""Chat presence (online, last seen) in Redis: written by the socket's heartbeat, never SQL.

Two structures, both under ``<REDIS_KEY_PREFIX>:chat:``:

- ``presence:<user id>``, a sorted set with one member per open socket (its channel name),
  scored by the time that socket's heartbeat expires. The user is online while any score lies
  in the future. Per-socket members, rather than a per-user counter, keep several sockets of
  one user correct: one closing removes only itself, and a socket whose process died without
  a disconnect simply stops counting when its score passes (a counter would stay too high
  forever). The key itself carries the same TTL, refreshed by every heartbeat, so a user whose
  sockets all vanished leaves nothing behind.
- ``last_seen``, one hash: field = user id, value = Unix time of that user's latest heartbeat
  or disconnect. It must outlive the TTL (that is its point), and one hash makes the page read
  one ``HMGET`` instead of a key per user; it costs about 80 bytes per user who has ever
  connected (measured with ``MEMORY USAGE``), bounded by the user table: 8 MB at 100k users.

Costs: connect, heartbeat and disconnect are each one pipelined round trip (4, 4 and 2
commands); ``presence_get`` is one round trip for any number of users (a ``ZCOUNT`` each plus
one ``HMGET``). Times come from this process's clock, as the chat rate limiter's do.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.conf import settings

from app.core import degrade, redisroles
from app.lab.cache import raw_key

# A socket counts as online CHAT_PRESENCE_TTL seconds (60) after its last heartbeat. Browsers
# ping every 25 s, so one lost or late ping does not flap the dot.


class Presence(NamedTuple):
    online: bool
    last_seen: datetime | None


def _key(*parts: object) -> str:
    return raw_key("chat", *parts)


def ttl_seconds() -> float:
    return float(settings.CHAT_PRESENCE_TTL)


def refresh_seconds() -> float:
    """The least time between two heartbeat writes of one socket: a third of the TTL, so a
    throttled socket is still refreshed at least twice before it would expire."""
    configured: float | None = settings.CHAT_PRESENCE_REFRESH
    return ttl_seconds() / 3 if configured is None else float(configured)


def presence_online(*, user_id: int, socket: str) -> None:
    """Connect and heartbeat: ``socket`` (its channel name) is alive for another TTL."""
    now = time.time()
    ttl = ttl_seconds()
    key = _key("presence", user_id)
    pipe = redisroles.connection("limits").pipeline()
    # Sockets that died without a disconnect are dropped here, so the set stays small.
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zadd(key, {socket: now + ttl})
    pipe.pexpire(key, max(1, round(ttl * 1000)))
    pipe.hset(_key("last_seen"), str(user_id), f"{now:.3f}")
    pipe.execute()


def presence_offline(*, user_id: int, socket: str) -> None:
    """Disconnect: forget this socket and record the time; other sockets keep the user online."""
    pipe = redisroles.connection("limits").pipeline()
    pipe.zrem(_key("presence", user_id), socket)
    pipe.hset(_key("last_seen"), str(user_id), f"{time.time():.3f}")
    pipe.execute()


def presence_queue(pipe: Any, *, user_ids: list[int]) -> None:
    """Queue the reads of ``presence_get`` on ``pipe``, so a caller can share its round trip;
    :func:`presence_parse` reads the replies (``len(user_ids) + 1`` of them)."""
    now = f"{time.time():.3f}"
    for user_id in user_ids:
        # Strictly later than now: a socket whose score has passed is not online.
        pipe.zcount(_key("presence", user_id), f"({now}", "+inf")
    pipe.hmget(_key("last_seen"), [str(user_id) for user_id in user_ids])


def presence_parse(*, user_ids: list[int], replies: list[Any]) -> dict[int, Presence]:
    *counts, seen = replies
    return {
        user_id: Presence(
            online=count > 0,
            last_seen=datetime.fromtimestamp(float(stamp), tz=UTC) if stamp else None,
        )
        for user_id, count, stamp in zip(user_ids, counts, seen, strict=True)
    }


def presence_get(*, user_ids: Iterable[int]) -> dict[int, Presence]:
    """Each user's presence in one Redis round trip, whatever the count; never SQL. Presence
    lives in Redis only: while it is down (app/core/degrade.py), everyone reads as offline
    with no last seen, and the page around it is served."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    unknown = {user_id: Presence(online=False, last_seen=None) for user_id in ids}
    if not degrade.redis_up():
        return unknown
    pipe = redisroles.connection("limits").pipeline(transaction=False)
    presence_queue(pipe, user_ids=ids)
    try:
        replies = pipe.execute()
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
        return unknown
    return presence_parse(user_ids=ids, replies=replies)
