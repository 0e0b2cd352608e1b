"""Redis structures of the cached feed: key names, scores, and atomic timeline primitives.

A timeline is a sorted set of post ids scored by ``created_at`` in microseconds. Members are
the 8-byte big-endian post id, so Redis orders equal scores by id, exactly like the SQL
keyset ``ORDER BY created_at DESC, id DESC``. Every set carries a sentinel member (the empty
string) at a negative score: -2 while it is being built from SQL, -1 once complete, and a
TRUNCATED marker once the cap has cut posts off its bottom. Writers only touch sets that
exist, so a timeline is either absent (rebuilt on the next read) or complete down to its
oldest post; it is never silently partial.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from app.lab.cache import raw_key
from app.posts import viewcache

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
SENTINEL = b""
BUILDING = -2
COMPLETE = -1
# Present (at -3) once the cap has cut posts off the bottom of the set.
TRUNCATED = b"t"

# (score, post_id): the keyset of a feed item in Redis terms.
Key = tuple[int, int]

# Keeps the newest ``cap`` posts; markers (negative scores) sit below every post and survive.
# A set that ever lost a post to the cap gets the TRUNCATED marker: readers then know that
# Redis does not hold everything below its oldest post, and SQL serves what lies there.
_TRIM = """
local function trim(key, cap)
  local markers = redis.call('ZCOUNT', key, '-inf', '(0')
  if redis.call('ZREMRANGEBYRANK', key, markers, -(cap + 1)) > 0 then
    redis.call('ZADD', key, -3, 't')
  end
end
"""
# KEYS: sorted sets; ARGV: cap, then score/member pairs. Adds to each set that exists; a
# missing set stays missing, and its owner rebuilds it from SQL on the next read. Returns the
# 0-based positions in KEYS of the sets that took the rows.
_ADD_IF_EXISTS = (
    _TRIM
    + """
local cap = tonumber(ARGV[1])
local added = {}
for position, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    for i = 2, #ARGV, 2 do
      redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
    end
    trim(key, cap)
    added[#added + 1] = position - 1
  end
end
return added
"""
)
# KEYS[1]; ARGV: cap, ttl, "1" when SQL may hold more than it returned, then pairs.
_FINISH = (
    _TRIM
    + """
local key, cap = KEYS[1], tonumber(ARGV[1])
for i = 4, #ARGV, 2 do
  redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', key, -1, '')
if ARGV[3] == '1' then
  redis.call('ZADD', key, -3, 't')
end
trim(key, cap)
redis.call('EXPIRE', key, ARGV[2])
"""
)


def timeline_cap() -> int:
    """Post ids kept per timeline: bounds Redis memory per active user."""
    return int(settings.FEED_TIMELINE_CAP)


def fanout_threshold() -> int:
    """Authors with more followers than this are pulled at read time, never pushed."""
    return int(settings.FEED_FANOUT_THRESHOLD)


def _key(*parts: object) -> str:
    return raw_key("feed", *parts)


def timeline_key(user_id: int) -> str:
    return _key("tl", user_id)


def author_key(author_id: int) -> str:
    """The recent posts of one author above the fan-out threshold (pulled at read time)."""
    return _key("au", author_id)


def celebs_key() -> str:
    return _key("celebs")


def score_of(created_at: datetime) -> int:
    # Integer microseconds stay exact in a Redis double until the year 2255.
    return (created_at - EPOCH) // MICROSECOND


def created_at_of(score: int) -> datetime:
    return EPOCH + timedelta(microseconds=score)


def member_of(post_id: int) -> bytes:
    return post_id.to_bytes(8, "big")


def post_id_of(member: bytes) -> int:
    return int.from_bytes(member, "big")


def add_if_exists(
    conn: Any, keys: Sequence[str], rows: Iterable[tuple[int, datetime]]
) -> list[int]:
    """Add (post id, created_at) rows to every existing set among ``keys``; returns the
    positions in ``keys`` of the sets that took them (fan-out tells those owners)."""
    args: list[Any] = [timeline_cap()]
    for post_id, created_at in rows:
        args += [score_of(created_at), member_of(post_id)]
    if not keys or len(args) == 1:
        return []
    return [int(i) for i in conn.register_script(_ADD_IF_EXISTS)(keys=list(keys), args=args)]


def remove(conn: Any, keys: Sequence[str], post_ids: Sequence[int]) -> None:
    """Drop posts from sorted sets (ZREM never creates a missing set)."""
    if not keys or not post_ids:
        return
    members = [member_of(post_id) for post_id in post_ids]
    with conn.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.zrem(key, *members)
        pipe.execute()


def sorted_set_begin(pipe: Any, key: str) -> None:
    """Mark a set as building before its SQL snapshot is read, so that fan-out running
    meanwhile lands in it instead of being lost."""
    pipe.zadd(key, {SENTINEL: BUILDING}, nx=True)
    pipe.expire(key, viewcache.ttl())


def sorted_set_finish(conn: Any, key: str, rows: Sequence[tuple[int, datetime]]) -> None:
    """Fill a set from its SQL snapshot (at most ``cap`` rows) and mark it complete."""
    cap = timeline_cap()
    args: list[Any] = [cap, viewcache.ttl(), "1" if len(rows) >= cap else "0"]
    for post_id, created_at in rows:
        args += [score_of(created_at), member_of(post_id)]
    conn.register_script(_FINISH)(keys=[key], args=args)


# One round trip for a page of the cached feed: the script checks the viewer's timeline and
# following set, finds the followed authors who are pulled at read time, merges the window
# over the timeline and their lists, and gathers the page's bodies, flags and follows.
# Before, that was five round trips and every set's entries parsed and merged in Python
# (docs/experiments/hotpaths.md).
# KEYS: flags hash, following set, timeline, the celebrities set.
# ARGV: count; "1" and the position's score and id, or "0" (first page); how many of the
# page to gather (see _GATHER_FN); the fragment key prefix; the TTL; the pulled authors'
# key prefix (an author id completes it); the following set's completeness marker; "1" to
# report pulled lists that are absent.
# Reply: {1} when the timeline or following set must be rebuilt; {2, author ids...} naming
# absent pulled lists; or {0, sql_after, npage, s1, id1, ..., then 4 values per gathered
# post}.
# Members are 8-byte big-endian ids; scores and ids stay below 2**53, exact in Lua numbers.
_WINDOW = (
    viewcache.GATHER_LUA
    + """
local count = tonumber(ARGV[1])
local has_pos = ARGV[2] == '1'
local pscore, pid = tonumber(ARGV[3]), tonumber(ARGV[4])
local resolve, prefix, ttl = tonumber(ARGV[5]), ARGV[6], ARGV[7]
local author_prefix, complete, check = ARGV[8], ARGV[9], ARGV[10] == '1'
local flags, following, timeline, celebs = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if tonumber(redis.call('ZSCORE', timeline, '')) ~= -1
    or redis.call('SISMEMBER', following, complete) == 0 then
  return {1}
end
redis.call('EXPIRE', timeline, ttl)
redis.call('EXPIRE', following, ttl)
local sets = {timeline}
local missing = {2}
for _, author in ipairs(redis.call('SINTER', following, celebs)) do
  local key = author_prefix .. author
  if check and tonumber(redis.call('ZSCORE', key, '')) ~= -1 then
    missing[#missing + 1] = author
  end
  sets[#sets + 1] = key
end
if #missing > 1 then
  return missing
end
local function id_of(member)
  local n = 0
  for i = 1, #member do n = n * 256 + string.byte(member, i) end
  return n
end
-- Entries are {score, member, id}; the id is decoded only when scores tie.
local function below(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  a[3] = a[3] or id_of(a[2])
  b[3] = b[3] or id_of(b[2])
  return a[3] < b[3]
end
local position = has_pos and {pscore, nil, pid} or nil
local lists, floor, floor_top = {}, nil, false
for _, key in ipairs(sets) do
  local truncated = redis.call('ZSCORE', key, 't')
  local raw, rest_len = {}, 0
  if has_pos then
    local ties = redis.call('ZREVRANGEBYSCORE', key, ARGV[3], ARGV[3], 'WITHSCORES')
    for j = 1, #ties, 2 do raw[#raw + 1] = ties[j]; raw[#raw + 1] = ties[j + 1] end
  end
  local top = has_pos and ('(' .. ARGV[3]) or '+inf'
  local rest = redis.call('ZREVRANGEBYSCORE', key, top, 0, 'WITHSCORES', 'LIMIT', 0, count)
  rest_len = #rest / 2
  for j = 1, #rest, 2 do raw[#raw + 1] = rest[j]; raw[#raw + 1] = rest[j + 1] end
  local entries = {}
  for j = 1, #raw, 2 do
    local entry = {tonumber(raw[j + 1]), raw[j], nil}
    if not position or below(entry, position) then entries[#entries + 1] = entry end
  end
  lists[#lists + 1] = entries
  -- A set that may hold more (a full window) or that was trimmed to the cap is only known
  -- down to its last entry: nothing below it can be trusted from Redis.
  if rest_len == count or truncated then
    local last = entries[#entries] or position
    if last == nil then
      floor_top = true
    elseif floor == nil or below(floor, last) then
      floor = last
    end
  end
end
-- A k-way merge of the lists (each newest first), deduplicated, down to the floor.
local reply, kept, seen, heads = {0, 0, 0}, 0, {}, {}
local page = {}
for k = 1, #lists do heads[k] = 1 end
while kept < count and not floor_top do
  local best, best_k = nil, nil
  for k, entries in ipairs(lists) do
    local head = entries[heads[k]]
    if head and (best == nil or below(best, head)) then best, best_k = head, k end
  end
  if best == nil or (floor ~= nil and below(best, floor)) then break end
  heads[best_k] = heads[best_k] + 1
  if not seen[best[2]] then
    seen[best[2]] = true
    best[3] = best[3] or id_of(best[2])
    reply[#reply + 1] = best[1]
    reply[#reply + 1] = best[3]
    kept = kept + 1
    if kept <= resolve then page[#page + 1] = string.format('%d', best[3]) end
  end
end
if (floor_top or floor ~= nil) and kept < count then reply[2] = 1 end
reply[3] = kept
return gather(flags, following, prefix, ttl, page, reply)
"""
)


@dataclass
class Window:
    """One script call's answer for a page window (see ``_WINDOW``)."""

    rebuild_timeline: bool = False
    rebuild_authors: list[int] = field(default_factory=list)
    entries: list[Key] = field(default_factory=list)
    sql_after: bool = False
    gathered: viewcache.Gathered = field(default_factory=viewcache.Gathered)


def timeline_window(
    conn: Any, *, viewer_id: int, position: Key | None, count: int, resolve: int, check: bool
) -> Window:
    """Up to ``count`` merged keys after ``position`` over the viewer's timeline and the
    lists of the pulled authors they follow, whether SQL must continue after them because a
    capped set ran out, and what Redis holds for the first ``resolve`` of them (see
    :func:`viewcache.gather`); or what must be rebuilt first (with ``check``, absent pulled
    lists)."""
    args: list[Any] = [count, *(("1", *position) if position else ("0", 0, 0))]
    args += [
        resolve,
        viewcache.fragment_prefix(),
        viewcache.ttl(),
        _key("au", ""),
        viewcache.SET_COMPLETE,
        int(check),
    ]
    keys = [
        viewcache.flags_key(viewer_id),
        viewcache.following_key(viewer_id),
        timeline_key(viewer_id),
        celebs_key(),
    ]
    reply = viewcache.script(conn, _WINDOW)(keys=keys, args=args)
    if reply[0] == 1:
        return Window(rebuild_timeline=True)
    if reply[0] == 2:
        return Window(rebuild_authors=[int(author) for author in reply[1:]])
    kept = int(reply[2])
    entries = [(int(reply[i]), int(reply[i + 1])) for i in range(3, 3 + 2 * kept, 2)]
    page = [post_id for _, post_id in entries[:resolve]]
    gathered = viewcache.gathered_of(page, reply[3 + 2 * kept :])
    return Window(entries=entries, sql_after=reply[1] == 1, gathered=gathered)
