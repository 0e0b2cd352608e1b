"""The newest posts of each hashtag and place in Redis, so that a warm page runs no SQL.

A window is one hashtag's or place's header row and its newest ``SIZE`` posts as parallel
lists (id, created_at in microseconds, like_count, author id, author is_private), newest
first: everything the page statement reads, for every viewer at once. A page is cut from it
in Python for one viewer (visibility from the viewer's following set) exactly as the SQL
statement cuts it; when the window cannot answer (a page past its end, or too few visible
posts in a window that does not hold the whole scope) the caller runs the statement.

Invalidation, on commit: a new post or a like change bumps the generation of the post's
hashtags and place, dropping their windows (one indexed query finds them); a delete, and an
author's privacy or name change, bump the generation of every window (rare writes, and once a
delete has committed the post's hashtag rows are gone). A window read from SQL is stored only
if neither generation moved meanwhile, so a build racing a write never keeps the old rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection

from app.accounts.models import Follow, User
from app.core import replicas
from app.feed import store
from app.lab import stats
from app.lab.cache import raw_key
from app.posts import viewcache
from app.posts.models import Hashtag, Place, Post, PostHashtag

# The top order ranks the newest TOP_CAP visible posts; a window holds more, so that a viewer
# who cannot see a few private posts still finds TOP_CAP in it.
TOP_CAP = 500
SIZE = 600
TTL = 3600
# v3: a hashtag's header counts its public posts only (search migration 0005).
_VERSION = "v3"
# KEYS: window, scope generation, global generation, the window's private authors (a set).
# ARGV: the two generations read before the SQL read, the window, its TTL, private authors.
# Stored only while both generations are unchanged, window and set together.
_FILL = """
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1]
    and (redis.call('GET', KEYS[3]) or '0') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  redis.call('DEL', KEYS[4])
  if #ARGV > 4 then
    redis.call('SADD', KEYS[4], unpack(ARGV, 5))
    redis.call('EXPIRE', KEYS[4], ARGV[4])
  end
  return 1
end
return 0
"""


def _window_key(scope: str) -> str:
    return raw_key("search", "win", _VERSION, scope)


def _private_key(scope: str) -> str:
    return raw_key("search", "win", _VERSION, "private", scope)


def _gen_key(scope: str) -> str:
    return raw_key("search", "win", "gen", scope)


def _all_key() -> str:
    return viewcache.privacy_generation_key()


def hashtag_scope(name: str) -> str:
    return f"t:{name}"


def place_scope(place_id: int) -> str:
    return f"p:{place_id}"


@dataclass(frozen=True, slots=True)
class Window:
    """Newest first. Only private posts carry their author: the rest are public to all."""

    header: list[Any]
    ids: list[int]
    micros: list[int]
    likes: list[int]
    # Index into ids -> author id, for posts whose author is private.
    private: dict[int, int]
    # Indexes of the newest TOP_CAP public posts, by (like_count, id) descending: the top
    # order of every viewer who sees no private post of the window.
    public_top: list[int]
    # True when the window holds every post of the scope.
    complete: bool


def _window_of(header: list[Any], rows: Sequence[tuple[Any, ...]]) -> Window:
    """rows: (id, created_at, like_count, author id, author is_private), newest first."""
    kept = rows[:SIZE]
    ids = [row[0] for row in kept]
    likes = [row[2] for row in kept]
    private = {index: row[3] for index, row in enumerate(kept) if row[4]}
    public = [index for index in range(len(kept)) if index not in private][:TOP_CAP]
    public.sort(key=lambda index: (likes[index], ids[index]), reverse=True)
    return Window(
        header=header,
        ids=ids,
        micros=[store.score_of(row[1]) for row in kept],
        likes=likes,
        private=private,
        public_top=public,
        complete=len(rows) <= SIZE,
    )


def _hashtag_build(name: str) -> tuple[list[Any], list[tuple[Any, ...]]] | None:
    q = connection.ops.quote_name
    tags, links = q(Hashtag._meta.db_table), q(PostHashtag._meta.db_table)
    posts, users = q(Post._meta.db_table), q(User._meta.db_table)
    sql = (
        "SELECT h.id, h.name, h.post_count, h.last_used_at, k.id, k.created_at, k.like_count, "
        "k.author_id, k.is_private FROM (SELECT id, name, public_post_count AS post_count, "
        f"last_used_at FROM {tags} "
        "WHERE name = %(name)s) h LEFT JOIN LATERAL (SELECT p.id, s.created_at, p.like_count, "
        f"p.author_id, a.is_private FROM {links} s JOIN {posts} p ON p.id = s.post_id "
        f"JOIN {users} a ON a.id = p.author_id WHERE s.hashtag_id = h.id "
        "ORDER BY s.created_at DESC, s.post_id DESC LIMIT %(limit)s) k ON true "
        "ORDER BY k.created_at DESC, k.id DESC"
    )
    with replicas.reading().cursor() as db:
        db.execute(sql, {"name": name, "limit": SIZE + 1})
        rows = db.fetchall()
    if not rows:
        return None
    tag_id, tag_name, post_count, last_used_at = rows[0][:4]
    used = None if last_used_at is None else store.score_of(last_used_at)
    return [tag_id, tag_name, post_count, used], [row[4:] for row in rows if row[4] is not None]


def _place_build(place_id: int) -> tuple[list[Any], list[tuple[Any, ...]]] | None:
    q = connection.ops.quote_name
    places, posts, users = (q(m._meta.db_table) for m in (Place, Post, User))
    sql = (
        "SELECT h.id, h.name, h.address, h.latitude, h.longitude, h.post_count, k.id, "
        "k.created_at, k.like_count, k.author_id, k.is_private FROM (SELECT id, name, address, "
        f"latitude, longitude, post_count FROM {places} WHERE id = %(place)s) h "
        "LEFT JOIN LATERAL (SELECT p.id, p.created_at, p.like_count, p.author_id, a.is_private "
        f"FROM {posts} p JOIN {users} a ON a.id = p.author_id WHERE p.place_id = h.id "
        "ORDER BY p.created_at DESC, p.id DESC LIMIT %(limit)s) k ON true "
        "ORDER BY k.created_at DESC, k.id DESC"
    )
    with replicas.reading().cursor() as db:
        db.execute(sql, {"place": place_id, "limit": SIZE + 1})
        rows = db.fetchall()
    if not rows:
        return None
    pk, name, address, latitude, longitude, post_count = rows[0][:6]
    header = [pk, name, address, str(latitude), str(longitude), post_count]
    return header, [row[6:] for row in rows if row[6] is not None]


def _count(hit: bool) -> None:
    stats.cache_count(hits=int(hit), misses=int(not hit))


def _encode(window: Window, generation_all: str) -> bytes:
    return orjson.dumps(
        {
            "g": generation_all,
            "h": window.header,
            "i": window.ids,
            "m": window.micros,
            "l": window.likes,
            "p": [[index, author] for index, author in window.private.items()],
            "t": window.public_top,
            "c": window.complete,
        }
    )


def _decode(raw: bytes, generation_all: bytes | None) -> Window | None:
    stored = orjson.loads(raw)
    if stored["g"] != (generation_all or b"0").decode():
        return None
    return Window(
        header=stored["h"],
        ids=stored["i"],
        micros=stored["m"],
        likes=stored["l"],
        private=dict(stored["p"]),
        public_top=stored["t"],
        complete=stored["c"],
    )


def window_get(conn: Any, *, scope: str, viewer_id: int) -> tuple[Window, list[bool]] | None:
    """The scope's window and which of its posts ``viewer_id`` (0: anonymous) may see:
    public authors, their own posts, private authors they follow. Warm: one Redis round trip
    (the window, and the viewer's followed private authors among the window's). Cold: one
    statement, then kept. None when the hashtag or place does not exist."""
    key, everything = _window_key(scope), _all_key()
    following_key = viewcache.following_key(viewer_id)
    with conn.pipeline(transaction=False) as pipe:
        pipe.mget([key, everything])
        if viewer_id:
            pipe.sismember(following_key, viewcache.SET_COMPLETE)
            pipe.sinter([following_key, _private_key(scope)])
        replies = pipe.execute()
    raw, seen_all = replies[0]
    window = None if raw is None else _decode(raw, seen_all)
    _count(window is not None)
    if window is None:
        window = _build(conn, scope)
        if window is None:
            return None
        return window, _visible(conn, window, viewer_id)
    if not viewer_id or not window.private:
        return window, _shown(window, viewer_id, set())
    complete, followed = replies[1], replies[2]
    if not complete:
        return window, _visible(conn, window, viewer_id)
    return window, _shown(window, viewer_id, {int(author) for author in followed})


def _build(conn: Any, scope: str) -> Window | None:
    """Read the window from SQL; keep it unless a write moved a generation meanwhile."""
    key, gen, everything = _window_key(scope), _gen_key(scope), _all_key()
    seen, seen_all = conn.mget([gen, everything])
    kind, value = scope.split(":", 1)
    built = _hashtag_build(value) if kind == "t" else _place_build(int(value))
    if built is None:
        return None
    window = _window_of(*built)
    generation, generation_all = (seen or b"0").decode(), (seen_all or b"0").decode()
    authors = sorted(set(window.private.values()))
    conn.eval(
        _FILL,
        4,
        key,
        gen,
        everything,
        _private_key(scope),
        generation,
        generation_all,
        _encode(window, generation_all),
        TTL,
        *authors,
    )
    return window


def _shown(window: Window, viewer_id: int, followed: set[int]) -> list[bool]:
    """Per post of the window: may the viewer see it?"""
    shown = [True] * len(window.ids)
    for index, author in window.private.items():
        shown[index] = author == viewer_id or author in followed
    return shown


def _visible(conn: Any, window: Window, viewer_id: int) -> list[bool]:
    """:func:`_shown`, asking the following set (built when missing) about the window's
    private authors; SQL decides when Redis will not keep the set."""
    candidates = sorted(set(window.private.values()) - {viewer_id})
    if not viewer_id or not candidates:
        return _shown(window, viewer_id, set())
    key = viewcache.following_key(viewer_id)
    for attempt in range(2):
        with conn.pipeline(transaction=False) as pipe:
            pipe.sismember(key, viewcache.SET_COMPLETE)
            pipe.smismember(key, [str(author) for author in candidates])
            complete, members = pipe.execute()
        if complete:
            followed = {a for a, member in zip(candidates, members, strict=True) if member}
            return _shown(window, viewer_id, followed)
        if attempt == 0:
            viewcache.following_fill(conn, user_id=viewer_id)
    rows = Follow.objects.filter(follower_id=viewer_id, followee_id__in=candidates)
    return _shown(window, viewer_id, set(rows.values_list("followee_id", flat=True)))


def page_recent(
    window: Window, shown: Sequence[bool], after: tuple[datetime, int] | None, limit: int
) -> list[tuple[int, datetime]] | None:
    """Up to ``limit`` (id, created_at) newest first after ``after``; None when the window
    runs out before the page is full and does not hold the whole scope."""
    position = None if after is None else (store.score_of(after[0]), after[1])
    keys: list[tuple[int, datetime]] = []
    for index, post_id in enumerate(window.ids):
        if not shown[index]:
            continue
        if position is not None and (window.micros[index], post_id) >= position:
            continue
        keys.append((post_id, store.created_at_of(window.micros[index])))
        if len(keys) == limit:
            return keys
    return keys if window.complete else None


def page_top(
    window: Window, shown: Sequence[bool], after: tuple[int, int] | None, limit: int
) -> list[tuple[int, int]] | None:
    """Up to ``limit`` (id, like_count) by (like_count, id) descending after ``after`` among
    the newest TOP_CAP visible posts; None when the window holds fewer than TOP_CAP visible
    posts and not the whole scope."""
    ids, likes = window.ids, window.likes
    if all(not shown[index] for index in window.private):
        # The viewer sees exactly the public posts: their ranking is stored.
        if len(window.public_top) < TOP_CAP and not window.complete:
            return None
        order = window.public_top
    else:
        order = [index for index in range(len(ids)) if shown[index]][:TOP_CAP]
        if len(order) < TOP_CAP and not window.complete:
            return None
        order.sort(key=lambda index: (likes[index], ids[index]), reverse=True)
    keys: list[tuple[int, int]] = []
    for index in order:
        if after is not None and (likes[index], ids[index]) >= after:
            continue
        keys.append((ids[index], likes[index]))
        if len(keys) == limit:
            break
    return keys


# --- invalidation (called by app/feed/services.py on commit) ---------------------------------


def _bump(scopes: Sequence[str]) -> None:
    conn = viewcache.connection()
    with conn.pipeline(transaction=False) as pipe:
        for scope in scopes:
            pipe.incr(_gen_key(scope))
            pipe.expire(_gen_key(scope), TTL)
            pipe.delete(_window_key(scope), _private_key(scope))
        pipe.execute()


def post_scopes_changed(*, post_id: int) -> None:
    """A post was created or its like count changed: its hashtags' and place's windows go."""
    rows = Post.objects.filter(pk=post_id).values_list("place_id", "hashtags__name")
    scopes: set[str] = set()
    for place_id, name in rows:
        if place_id is not None:
            scopes.add(place_scope(place_id))
        if name is not None:
            scopes.add(hashtag_scope(name))
    if scopes:
        _bump(sorted(scopes))


def all_changed() -> None:
    """A post was deleted, or an author's privacy or name changed: every window goes."""
    viewcache.connection().incr(_all_key())
