"""Each user's inbox pages in Redis, dropped by every write that changes them, and the page's
members read from the signed-in-user cache: the warm path of the ``cached`` inbox strategy.

A page is stored as JSON in the hash ``chat:inbox:v1:<user id>`` (one field per
``limit:cursor``), so one ``DEL`` drops all of a user's pages. Fills are generation-checked,
as in :mod:`app.accounts.usercache`: a reader stores the page it built from SQL only if the
user's ``chat:inbox-gen:<user id>``, read before its SQL, is still current, and every write
bumps the generation after it commits. So a fill racing a write can never leave the old page
behind. What drops a user's pages (the callers are in :mod:`app.chat.services`):

- a new message in one of their rooms (last message, order, unread): every member, in the
  send's own publish pipeline, so the send keeps its three round trips;
- their own read mark moving (unread): the reader, in the ``read`` broadcast's pipeline;
- a room they are in being created or renamed: every member.

Members are not stored in the page, only their ids: their name, avatar and privacy come from
the user-row cache, which accounts drops on every write to a user row, so a profile change
shows on the next inbox without chat hearing of it. Presence is read live, in the same round
trip, and shown only for the user's accepted peers (members who created or wrote in a room
shared with them), kept as one more field of the same hash: whatever accepts a room (its
creation, a message) drops every member's pages, so the field is never staler than a page.
The count of the user's unread rooms (``GET /api/chat/unread``, the Messages badge) is one
more field: whatever changes it (a message in one of their rooms, their read mark) drops it
with the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.files.storage import default_storage

from app.accounts import usercache
from app.accounts.schemas import USER_SUMMARY_FIELDS
from app.chat.presence import Presence, presence_parse, presence_queue
from app.core import outbox, redisroles
from app.lab import stats
from app.lab.cache import raw_key

# A safety net for writes that bypass the services (the admin, a seeder): services drop
# pages at once.
TTL = 600
GEN_TTL = 3600
_VERSION = "v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The inbox hash's field for the user's accepted peers (never a page field: those are
# "<limit>:<cursor>").
_PEERS = "peers"
# The field for how many of the user's rooms are unread (the Messages badge): every write
# that changes an unread count drops the user's pages, and this with them.
UNREAD = "unread"
# Store a page only while the user's generation is the one read before the SQL read began.
_FILL = """
local gen = redis.call('GET', KEYS[2]) or '0'
if gen == ARGV[1] then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
"""
# Where the summary columns sit in a cached user row (an orjson list in usercache.FIELDS order).
_ID, _USERNAME, _NAME, _AVATAR, _PRIVATE = (
    usercache.FIELDS.index(name) for name in USER_SUMMARY_FIELDS
)


def _page_key(user_id: int) -> str:
    return raw_key("chat", "inbox", _VERSION, user_id)


def _gen_key(user_id: int) -> str:
    return raw_key("chat", "inbox-gen", user_id)


def page_field(*, cursor: tuple[Any, ...] | None, limit: int) -> str:
    if cursor is None:
        return f"{limit}:-"
    at, room_id = cursor
    return f"{limit}:{at.isoformat()}:{room_id}"


def at_micros(at: datetime | None) -> int | None:
    return None if at is None else (at - _EPOCH) // _MICROSECOND


def micros_at(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + micros * _MICROSECOND


def page_get(*, user_id: int, field: str) -> tuple[bytes | None, bytes]:
    """The stored page (None on a miss) and the generation a fill must present: one round
    trip."""
    pipe = redisroles.connection("cache").pipeline(transaction=False)
    pipe.hget(_page_key(user_id), field)
    pipe.get(_gen_key(user_id))
    raw, generation = pipe.execute()
    stats.cache_count(hits=int(raw is not None), misses=int(raw is None))
    return raw, generation or b"0"


def page_fill(*, user_id: int, field: str, generation: bytes, body: bytes) -> None:
    redisroles.connection("cache").eval(
        _FILL, 2, _page_key(user_id), _gen_key(user_id), generation, field, body, TTL
    )


def inbox_forget_queue(pipe: Any, *, user_ids: Iterable[int]) -> None:
    """Queue on ``pipe`` what drops these users' pages; run it only after the write commits."""
    for user_id in user_ids:
        pipe.incr(_gen_key(user_id))
        pipe.expire(_gen_key(user_id), GEN_TTL)
        pipe.delete(_page_key(user_id))


@outbox.effect("chat.inbox_forget")
def inbox_forget(*, user_ids: Sequence[int]) -> None:
    pipe = redisroles.connection("cache").pipeline(transaction=False)
    inbox_forget_queue(pipe, user_ids=user_ids)
    pipe.execute()


def inbox_forget_on_commit(*, user_ids: Sequence[int]) -> None:
    """Call inside the transaction that changes these users' inboxes (or outside one). An
    outbox effect: with Redis down, the drop waits and runs before any inbox is read from
    Redis again (app/core/outbox.py)."""
    outbox.after_commit("chat.inbox_forget", user_ids=list(user_ids))


# --- members -------------------------------------------------------------------------------


def _summary(row: Sequence[Any]) -> dict[str, Any]:
    """UserSummary's fields, as the API sends them, from a user-cache row."""
    avatar = row[_AVATAR]
    return {
        "id": row[_ID],
        "username": row[_USERNAME],
        "name": row[_NAME],
        "avatar_url": default_storage.url(avatar) if avatar else None,
        "is_private": row[_PRIVATE],
    }


def members_get(
    *, user_ids: list[int], viewer_id: int, accepted_read: Callable[[], set[int]]
) -> tuple[dict[int, dict[str, Any]], dict[int, Presence], set[int]]:
    """The summaries and presence of ``user_ids``, and the viewer's accepted peers (whose
    presence the viewer may see): one round trip when all are cached; else one query for
    the rows that are not, and ``accepted_read()`` (one query) when the peers are not,
    each then cached generation-checked."""
    if not user_ids:
        return {}, {}, set()
    conn = redisroles.connection("cache")
    batch = redisroles.Batch()
    pipe = batch.pipe("cache")
    # The accepted peers live in the inbox hash: what accepts a room (a message sent in it,
    # its creation) drops every member's pages, and these with them.
    pipe.hget(_page_key(viewer_id), _PEERS)
    pipe.get(_gen_key(viewer_id))
    # The accounts user-row cache: dropped by every write to a user row, which is exactly
    # the freshness a member list needs.
    usercache.rows_queue(pipe, user_ids)
    # Presence is the limits role's: the same pipeline when it shares the cache's server.
    presence_start = len(batch.pipe("limits"))
    presence_queue(batch.pipe("limits"), user_ids=user_ids)
    batch.execute()
    stored, generation, rows, generations = batch.replies("cache")[:4]
    presence_replies = batch.replies("limits", presence_start)
    if stored is None:
        accepted = accepted_read()
        body = b",".join(str(peer).encode() for peer in sorted(accepted))
        page_fill(user_id=viewer_id, field=_PEERS, generation=generation or b"0", body=body)
    else:
        accepted = {int(peer) for peer in stored.split(b",") if peer}
    found, missing = usercache.rows_parse(user_ids, rows, generations)
    found |= usercache.rows_fill(conn, missing)
    summaries = {user_id: _summary(row) for user_id, row in found.items()}
    return summaries, presence_parse(user_ids=user_ids, replies=presence_replies), accepted
