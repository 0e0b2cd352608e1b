"""Post reads served from Redis when warm: the post detail and the bodies of an id page.

Bodies are the feed's shared fragments (``app/feed/store.py``; dropped on commit by every
like, comment, caption change and delete, and by an author's name or privacy change), the
viewer's liked/saved flags come from the feed's flags hash (set on commit by every like and
save), and the detail's visibility from the body header's ``author_private``, the privacy
overrides (true at once after a privacy change) and the viewer's following set (changed on
commit by every follow and unfollow). What Redis lacks is read from SQL once and kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from app.accounts.models import User
from app.accounts.usercache import privacy_key
from app.core import degrade
from app.lab import stats
from app.lab.api import not_found, page, parse_limit
from app.posts import selectors, viewcache
from app.posts.fragments import PostJSON, fragment_decode, fragment_encode, fragment_valid
from app.posts.schemas import PostOut
from app.posts.selectors import viewer_flags

Viewer = User | AnonymousUser
Flags = dict[int, tuple[bool, bool]]


def _count(hits: int, misses: int) -> None:
    """Fragment reads count as cache hits and misses in Server-Timing, like Django's cache."""
    stats.cache_count(hits=hits, misses=misses)


def _flags_of(post_ids: Sequence[int], stored: list[bytes | None]) -> Flags:
    """The flags an HMGET of ``l<id>, s<id>`` pairs found (both fields present)."""
    flags: Flags = {}
    for index, post_id in enumerate(post_ids):
        liked, saved = stored[2 * index], stored[2 * index + 1]
        if liked is not None and saved is not None:
            flags[post_id] = (liked == b"1", saved == b"1")
    return flags


def _flags_learn(conn: Any, viewer_id: int, unknown: Sequence[int], fresh: Flags) -> Flags:
    """Flags Redis did not know: ``fresh`` ones came with a body read from SQL, the rest are
    read in one query. All are remembered (HSETNX: a like committed meanwhile wins)."""
    learned = dict(fresh)
    rest = [post_id for post_id in unknown if post_id not in fresh]
    if rest:
        learned |= viewer_flags(viewer_id=viewer_id, post_ids=rest)
    viewcache.flags_remember(conn, viewcache.flags_key(viewer_id), learned)
    return learned


def _fill(conn: Any, viewer: Viewer, post_ids: Sequence[int]) -> tuple[dict[int, PostJSON], Flags]:
    """Bodies missing from Redis, read in the shaped query (plus its two prefetches) and
    stored; with the viewer's flags, which the same query reads. Deleted posts are absent."""
    encoded: dict[int, bytes] = {}
    flags: Flags = {}
    for post in selectors.post_queryset(viewer=viewer).filter(pk__in=post_ids):
        encoded[post.pk] = fragment_encode(PostOut.of(post))
        flags[post.pk] = (post.viewer_has_liked, post.viewer_has_saved)  # type: ignore[attr-defined]
    # Deleted since SQL listed them: remembered as gone (ids are never reused).
    vanished = dict.fromkeys(set(post_ids) - set(encoded), viewcache.TOMBSTONE)
    viewcache.fragments_set(conn, encoded | vanished)
    return {pk: fragment_decode(pk, raw) for pk, raw in encoded.items()}, flags


def bodies_viewed(*, viewer: Viewer, post_ids: Sequence[int]) -> list[PostJSON]:
    """The bodies of ``post_ids`` in order, with the viewer's flags, for a page whose ids SQL
    has already filtered by visibility. Warm: one Redis round trip and no SQL. Posts deleted
    since the ids were read are left out."""
    if not post_ids:
        return []
    if not degrade.redis_up():
        return _bodies_sql(viewer, post_ids)
    conn = viewcache.connection()
    me = selectors.viewer_id(viewer)
    flags_key = viewcache.flags_key(me)
    with conn.pipeline(transaction=False) as pipe:
        pipe.mget([cache.make_key(viewcache.fragment_key(post_id)) for post_id in post_ids])
        if me:
            pipe.hmget(flags_key, [f"{kind}{post_id}" for post_id in post_ids for kind in "ls"])
            pipe.expire(flags_key, viewcache.ttl())
        replies = pipe.execute()
    bodies: dict[int, PostJSON] = {}
    gone: set[int] = set()
    for post_id, raw in zip(post_ids, replies[0], strict=True):
        if raw == viewcache.TOMBSTONE:
            gone.add(post_id)
        elif raw is not None and fragment_valid(raw):
            bodies[post_id] = fragment_decode(post_id, raw)
    _count(len(bodies) + len(gone), len(post_ids) - len(bodies) - len(gone))
    missing = [post_id for post_id in post_ids if post_id not in bodies and post_id not in gone]
    fresh: Flags = {}
    if missing:
        filled, fresh = _fill(conn, viewer, missing)
        bodies |= filled
    if not me:
        return [bodies[post_id] for post_id in post_ids if post_id in bodies]
    flags = _flags_of(post_ids, replies[1])
    unknown = [post_id for post_id in post_ids if post_id in bodies and post_id not in flags]
    if unknown:
        flags |= _flags_learn(conn, me, unknown, fresh)
    items = []
    for post_id in post_ids:
        if post_id in bodies and post_id in flags:
            liked, saved = flags[post_id]
            items.append(bodies[post_id].viewed(liked=liked, saved=saved))
    return items


def _viewed(out: PostOut) -> PostJSON:
    body = fragment_decode(out.id, fragment_encode(out))
    return body.viewed(liked=out.viewer_has_liked, saved=out.viewer_has_saved)


def _bodies_sql(viewer: Viewer, post_ids: Sequence[int]) -> list[PostJSON]:
    """The same page with Redis down: one shaped query (plus its two prefetches)."""
    found = {
        post.pk: _viewed(PostOut.of(post))
        for post in selectors.post_queryset(viewer=viewer).filter(pk__in=post_ids)
    }
    return [found[post_id] for post_id in post_ids if post_id in found]


def _detail_fill(conn: Any, viewer: Viewer, post_id: int) -> PostJSON:
    """A cold detail: the SQL selector decides visibility (404 as ever) and reads the body
    and flags, which are then kept for the next request."""
    out = PostOut.of(selectors.post_detail(viewer=viewer, post_id=post_id))
    raw = fragment_encode(out)
    viewcache.fragments_set(conn, {post_id: raw})
    me = selectors.viewer_id(viewer)
    if me:
        flags = {post_id: (out.viewer_has_liked, out.viewer_has_saved)}
        viewcache.flags_remember(conn, viewcache.flags_key(me), flags)
    return fragment_decode(post_id, raw).viewed(
        liked=out.viewer_has_liked, saved=out.viewer_has_saved
    )


# KEYS: the fragment, the viewer's flags, the viewer's following set, the privacy overrides.
# ARGV: post id, viewer id (0: anonymous), flags TTL. Everything the detail needs in one
# round trip: the body, its author's privacy override, whether the viewer's following set is
# complete and holds the author, and the viewer's flags.
_DETAIL = """
local body = redis.call('GET', KEYS[1])
if not body or body == '' then
  return {body or false}
end
local author = string.format('%.0f', struct.unpack('>L', body))
local viewer = ARGV[2]
local complete, member, liked, saved = 0, 0, false, false
if viewer ~= '0' then
  if viewer ~= author then
    complete = redis.call('SISMEMBER', KEYS[3], 'c')
    member = redis.call('SISMEMBER', KEYS[3], author)
  end
  local flags = redis.call('HMGET', KEYS[2], 'l' .. ARGV[1], 's' .. ARGV[1])
  liked, saved = flags[1], flags[2]
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return {body, redis.call('HGET', KEYS[4], author) or false, complete, member, liked, saved}
"""


def post_detail(*, viewer: Viewer, post_id: int) -> PostJSON:
    """GET /api/posts/{id} for ``viewer``: a private author's post is shown only to the
    author and their followers, and is a 404 for anyone else, exactly as the SQL selector
    decides. Warm: one Redis script call (body, privacy override, follow check and flags)
    and no SQL. With Redis down, the SQL selector alone."""
    if not degrade.redis_up():
        return _viewed(PostOut.of(selectors.post_detail(viewer=viewer, post_id=post_id)))
    conn = viewcache.connection()
    me = selectors.viewer_id(viewer)
    keys = [
        cache.make_key(viewcache.fragment_key(post_id)),
        viewcache.flags_key(me),
        viewcache.following_key(me),
        privacy_key(),
    ]
    reply = conn.register_script(_DETAIL)(keys=keys, args=[post_id, me, viewcache.ttl()])
    raw = reply[0]
    if raw is None or (raw != viewcache.TOMBSTONE and not fragment_valid(raw)):
        _count(0, 1)
        return _detail_fill(conn, viewer, post_id)
    _count(1, 0)
    if raw == viewcache.TOMBSTONE:
        raise not_found("post")
    body = fragment_decode(post_id, raw)
    override, complete, member, liked, saved = reply[1:]
    private = body.author_private if override is None else override == b"1"
    author = body.author_id
    if private and author != me:
        if not me:
            raise not_found("post")
        if not complete:
            member = viewcache.follows(conn, user_id=me, author_id=author)
        if not member:
            raise not_found("post")
    if not me:
        return body
    flags = _flags_of([post_id], [liked, saved])
    if post_id not in flags:
        flags = _flags_learn(conn, me, [post_id], {})
    if post_id not in flags:
        # Deleted after its body was read: the body's drop is on its way.
        raise not_found("post")
    is_liked, is_saved = flags[post_id]
    return body.viewed(liked=is_liked, saved=is_saved)


def user_posts_page(
    *, viewer: Viewer, username: str, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """GET /api/users/{username}/posts: the page's keys in one SQL statement (which also
    settles the owner and the viewer's right to see them), the bodies and flags from Redis.
    Same items, order and cursors as :func:`selectors.user_posts_page`."""
    size = parse_limit(limit)
    keys = selectors.user_post_keys(viewer=viewer, username=username, cursor=cursor, limit=size + 1)
    items = bodies_viewed(viewer=viewer, post_ids=[post_id for post_id, _ in keys[:size]])
    # The cursor is the last key SQL listed, whether or not its post survived till now.
    next_cursor = page(keys, size, lambda key: (key[1], key[0]))["next_cursor"]
    return {"items": items, "next_cursor": next_cursor}
