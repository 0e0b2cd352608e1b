"""The viewer cache: what Redis holds about posts and one viewer, for every app that shows
posts (the feed, a post page, profiles, hashtag and place pages, explore, media checks).

- **Post bodies** ("fragments"): each post's JSON as every viewer sees it, encoded by
  app/posts/fragments.py, or TOMBSTONE for a post that is gone.
- **Flags**: per viewer, whether they liked and saved each post they were shown.
- **The following set**: per viewer, the accounts they follow, so a privacy check needs no
  SQL. It carries a completeness marker: a set being built, or never built, answers nothing.

One Lua function (GATHER_LUA) reads a page's bodies, flags and follows in one round trip;
the feed's window script runs it inside its own call. Keys keep the ``feed:`` namespace they
were born with, so a deployment's warm cache stays valid across this module's move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from app.accounts import selectors as account_selectors
from app.core import redisroles
from app.core.keys import raw_key
from app.lab import stats
from app.posts.fragments import PostJSON, fragment_decode, fragment_valid

# Set markers for the following set: user ids are never these strings.
SET_BUILDING = "b"
SET_COMPLETE = "c"


def ttl() -> int:
    """Seconds an idle user's cached structures live (refreshed on read): the feed's timeline,
    the following set and the flags."""
    return int(settings.FEED_TIMELINE_TTL)


def fragment_ttl() -> int:
    return int(settings.FEED_FRAGMENT_TTL)


def connection() -> Any:
    return redisroles.connection("cache")


def key(*parts: object) -> str:
    return raw_key("feed", *parts)


def following_key(user_id: int) -> str:
    return key("fo", user_id)


def flags_key(user_id: int) -> str:
    """The viewer's liked/saved flags per post: fields ``l<id>`` and ``s<id>``, b"1"/b"0"."""
    return key("fl", user_id)


# Versioned: v4 holds raw JSON bytes (app/posts/fragments.py) with each image's alt_text,
# v3 the same without it, v2 pickled PostOut.
_FRAGMENT = "feed:post:v4:"


def fragment_key(post_id: int) -> str:
    """A post body, named through the Django cache's key function (which prepends
    REDIS_KEY_PREFIX), so ``cache.delete(fragment_key(id))`` invalidates it."""
    return f"{_FRAGMENT}{post_id}"


def fragment_prefix() -> str:
    """The full Redis key of a post body, less the post id (for scripts)."""
    return str(cache.make_key(_FRAGMENT))


# The value stored for a post id that does not exist (deleted; ids are never reused), so that a
# ranked list still naming it is filtered from Redis instead of asking SQL on every page.
TOMBSTONE = b""


def fragments_lookup(conn: Any, post_ids: Sequence[int]) -> tuple[dict[int, PostJSON], set[int]]:
    """The cached bodies of ``post_ids`` that exist, and the ids known to be gone, in one
    MGET, counted like Django cache hits and misses. Bodies are JSON bytes: nothing is
    decoded but a 17-byte header."""
    keys = [cache.make_key(fragment_key(post_id)) for post_id in post_ids]
    found: dict[int, PostJSON] = {}
    gone: set[int] = set()
    for post_id, raw in zip(post_ids, conn.mget(keys) if keys else [], strict=True):
        if raw == TOMBSTONE:
            gone.add(post_id)
        elif raw is not None and fragment_valid(raw):
            found[post_id] = fragment_decode(post_id, raw)
    stats.cache_count(hits=len(found) + len(gone), misses=len(keys) - len(found) - len(gone))
    return found, gone


def fragments_set(conn: Any, bodies: Mapping[int, bytes]) -> None:
    """Store encoded bodies (``fragment_encode``), or TOMBSTONE for posts found gone, for
    ``fragment_ttl`` seconds."""
    if not bodies:
        return
    ttl = fragment_ttl()
    with conn.pipeline(transaction=False) as pipe:
        for post_id, raw in bodies.items():
            pipe.set(cache.make_key(fragment_key(post_id)), raw, ex=ttl)
        pipe.execute()


_SADD_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('SADD', KEYS[1], unpack(ARGV))
end
return 0
"""


def sadd_if_exists(conn: Any, key: str, *members: object) -> None:
    conn.register_script(_SADD_IF_EXISTS)(keys=[key], args=list(members))


def set_begin(pipe: Any, key: str) -> None:
    pipe.sadd(key, SET_BUILDING)
    pipe.expire(key, ttl())


def set_finish(pipe: Any, key: str, members: Iterable[int]) -> None:
    pipe.sadd(key, *map(str, members), SET_COMPLETE)
    pipe.expire(key, ttl())


def flags_remember(conn: Any, key: str, flags: dict[int, tuple[bool, bool]]) -> None:
    """Fill only absent fields (HSETNX): a like committed after our read wrote the truth."""
    if not flags:
        return
    with conn.pipeline(transaction=False) as pipe:
        for post_id, (liked, saved) in flags.items():
            pipe.hsetnx(key, f"l{post_id}", int(liked))
            pipe.hsetnx(key, f"s{post_id}", int(saved))
        pipe.expire(key, ttl())
        pipe.execute()


# For a page's post ids: each cached body (or nothing), the viewer's like and save flags as
# stored (or nothing), and whether the viewer follows the body's author. Shared by the
# window script (which gathers its page in the same call) and _GATHER.
GATHER_LUA = """
local function gather(flags, following, prefix, ttl, ids, reply)
  for _, id in ipairs(ids) do
    local body = redis.call('GET', prefix .. id)
    local followed = 0
    if body and #body >= 8 then
      local author = 0
      for k = 1, 8 do author = author * 256 + string.byte(body, k) end
      followed = redis.call('SISMEMBER', following, string.format('%d', author))
    end
    reply[#reply + 1] = body
    reply[#reply + 1] = redis.call('HGET', flags, 'l' .. id)
    reply[#reply + 1] = redis.call('HGET', flags, 's' .. id)
    reply[#reply + 1] = followed
  end
  redis.call('EXPIRE', flags, ttl)
  return reply
end
"""


# KEYS: flags hash, following set. ARGV: fragment key prefix, TTL, then the post ids.
_GATHER = (
    GATHER_LUA
    + """
local ids = {}
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
return gather(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ids, {})
"""
)


@dataclass
class Gathered:
    """What Redis holds for a page's posts, for one viewer (see ``GATHER_LUA``)."""

    bodies: dict[int, PostJSON] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)
    # post id -> (liked, saved) as stored; None where a flag is not known yet.
    flags: dict[int, tuple[bytes | None, bytes | None]] = field(default_factory=dict)
    follows: dict[int, bool] = field(default_factory=dict)


def gathered_of(post_ids: Sequence[int], reply: Sequence[Any]) -> Gathered:
    out = Gathered()
    for index, post_id in enumerate(post_ids):
        raw, liked, saved, followed = reply[4 * index : 4 * index + 4]
        if raw == TOMBSTONE:
            out.gone.add(post_id)
        elif raw is not None and fragment_valid(raw):
            out.bodies[post_id] = fragment_decode(post_id, raw)
            out.follows[post_id] = followed == 1
        out.flags[post_id] = (liked, saved)
    hits = len(out.bodies) + len(out.gone)
    stats.cache_count(hits=hits, misses=len(post_ids) - hits)
    return out


def gather(conn: Any, viewer_id: int, post_ids: Sequence[int]) -> Gathered:
    """Bodies, flags and follows of ``post_ids`` for one viewer, in one round trip."""
    if not post_ids:
        return Gathered()
    keys = [flags_key(viewer_id), following_key(viewer_id)]
    reply = script(conn, _GATHER)(keys=keys, args=[fragment_prefix(), ttl(), *post_ids])
    return gathered_of(post_ids, reply)


_scripts: dict[tuple[int, str], Any] = {}


def script(conn: Any, source: str) -> Any:
    """A registered script per connection and source: hashed once, sent by EVALSHA."""
    script = _scripts.get((id(conn), source))
    if script is None:
        script = _scripts[id(conn), source] = conn.register_script(source)
    return script


def privacy_generation_key() -> str:
    """A counter that every author's privacy change and every post delete bump (search's
    windows do, app/search/windows.py): caches keyed on who may see a post (those windows,
    media audiences in app/posts/media.py) stamp their entries with it, so none outlives
    a change of audience. The key keeps the name it was born with in search."""
    return raw_key("search", "win", "gen", "all")


def following_fill(conn: Any, *, user_id: int) -> None:
    """Build ``user_id``'s following set from SQL (one query).

    The set is marked building before the SQL snapshot is read, so that a follow committed
    meanwhile (``sadd_if_exists`` on commit) lands in it instead of being lost.
    """
    name = following_key(user_id)
    with conn.pipeline(transaction=False) as pipe:
        set_begin(pipe, name)
        pipe.execute()
    followed = account_selectors.following_ids(user_id=user_id)
    with conn.pipeline(transaction=False) as pipe:
        set_finish(pipe, name, followed)
        pipe.execute()


def follows(conn: Any, *, user_id: int, author_id: int) -> bool:
    """Does ``user_id`` follow ``author_id``? From the following set, built when missing."""
    name = following_key(user_id)
    for attempt in range(2):
        with conn.pipeline(transaction=False) as pipe:
            pipe.sismember(name, SET_COMPLETE)
            pipe.sismember(name, str(author_id))
            pipe.expire(name, ttl())
            complete, member, _ = pipe.execute()
        if complete:
            return bool(member)
        if attempt == 0:
            following_fill(conn, user_id=user_id)
    # Redis dropped the set as soon as it was built: SQL, the truth, answers instead.
    return account_selectors.follows(follower_id=user_id, followee_id=author_id)
