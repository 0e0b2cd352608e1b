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

from app.accounts.models import User
from app.feed import following, store
from app.lab import stats
from app.lab.cache import raw_key
from app.posts.models import Hashtag, Place, Post, PostHashtag

# The top order ranks the newest 500 visible posts: a window holds more, so that a viewer who
# cannot see a few private posts still finds 500 in it.
SIZE = 600
TTL = 3600
_VERSION = "v1"
# Store the build only while both generations are the ones read before the SQL read began.
_FILL = """
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1]
    and (redis.call('GET', KEYS[3]) or '0') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  return 1
end
return 0
"""


def _window_key(scope: str) -> str:
    return raw_key("search", "win", _VERSION, scope)


def _gen_key(scope: str) -> str:
    return raw_key("search", "win", "gen", scope)


def _all_key() -> str:
    return raw_key("search", "win", "gen", "all")


def hashtag_scope(name: str) -> str:
    return f"t:{name}"


def place_scope(place_id: int) -> str:
    return f"p:{place_id}"


@dataclass(frozen=True, slots=True)
class Window:
    header: list[Any]
    ids: list[int]
    micros: list[int]
    likes: list[int]
    authors: list[int]
    private: list[bool]
    # True when the window holds every post of the scope.
    complete: bool


def _hashtag_build(name: str) -> tuple[list[Any], list[tuple[Any, ...]]] | None:
    q = connection.ops.quote_name
    tags, links = q(Hashtag._meta.db_table), q(PostHashtag._meta.db_table)
    posts, users = q(Post._meta.db_table), q(User._meta.db_table)
    sql = (
        "SELECT h.id, h.name, h.post_count, h.last_used_at, k.id, k.created_at, k.like_count, "
        f"k.author_id, k.is_private FROM (SELECT id, name, post_count, last_used_at FROM {tags} "
        "WHERE name = %(name)s) h LEFT JOIN LATERAL (SELECT p.id, s.created_at, p.like_count, "
        f"p.author_id, a.is_private FROM {links} s JOIN {posts} p ON p.id = s.post_id "
        f"JOIN {users} a ON a.id = p.author_id WHERE s.hashtag_id = h.id "
        "ORDER BY s.created_at DESC, s.post_id DESC LIMIT %(limit)s) k ON true "
        "ORDER BY k.created_at DESC, k.id DESC"
    )
    with connection.cursor() as db:
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
    with connection.cursor() as db:
        db.execute(sql, {"place": place_id, "limit": SIZE + 1})
        rows = db.fetchall()
    if not rows:
        return None
    pk, name, address, latitude, longitude, post_count = rows[0][:6]
    header = [pk, name, address, str(latitude), str(longitude), post_count]
    return header, [row[6:] for row in rows if row[6] is not None]


def _count(hit: bool) -> None:
    request_stats = stats.current()
    if request_stats is not None:
        if hit:
            request_stats.cache_hits += 1
        else:
            request_stats.cache_misses += 1


def window_get(conn: Any, *, scope: str) -> Window | None:
    """The scope's window, from Redis when warm, else read from SQL (one statement) and kept;
    None when the hashtag or place does not exist."""
    key, gen, everything = _window_key(scope), _gen_key(scope), _all_key()
    raw, seen, seen_all = conn.mget([key, gen, everything])
    if raw is not None:
        stored = orjson.loads(raw)
        if stored["g"] == (seen_all or b"0").decode():
            _count(True)
            return Window(**stored["w"])
    _count(False)
    kind, value = scope.split(":", 1)
    built = _hashtag_build(value) if kind == "t" else _place_build(int(value))
    if built is None:
        return None
    header, rows = built
    window = Window(
        header=header,
        ids=[row[0] for row in rows[:SIZE]],
        micros=[store.score_of(row[1]) for row in rows[:SIZE]],
        likes=[row[2] for row in rows[:SIZE]],
        authors=[row[3] for row in rows[:SIZE]],
        private=[row[4] for row in rows[:SIZE]],
        complete=len(rows) <= SIZE,
    )
    generation = (seen or b"0").decode()
    generation_all = (seen_all or b"0").decode()
    body = orjson.dumps({"g": generation_all, "w": _as_dict(window)})
    conn.eval(_FILL, 3, key, gen, everything, generation, generation_all, body, TTL)
    return window


def _as_dict(window: Window) -> dict[str, Any]:
    return {name: getattr(window, name) for name in Window.__slots__}


def visible(conn: Any, window: Window, viewer_id: int) -> list[bool] | None:
    """Which of the window's posts ``viewer_id`` (0: anonymous) may see: public authors, their
    own posts, private authors they follow (from the following set, built when missing)."""
    hidden = {
        author
        for author, private in zip(window.authors, window.private, strict=True)
        if private and author != viewer_id
    }
    followed: set[int] = set()
    if hidden and viewer_id:
        candidates = sorted(hidden)
        key = store.following_key(viewer_id)
        for attempt in range(2):
            with conn.pipeline(transaction=False) as pipe:
                pipe.sismember(key, store.SET_COMPLETE)
                pipe.smismember(key, [str(author) for author in candidates])
                complete, members = pipe.execute()
            if complete:
                break
            if attempt == 0:
                following.following_fill(conn, user_id=viewer_id)
        if not complete:
            return None
        followed = {author for author, member in zip(candidates, members, strict=True) if member}
    return [author not in hidden or author in followed for author in window.authors]


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
    window: Window, shown: Sequence[bool], after: tuple[int, int] | None, limit: int, cap: int
) -> list[tuple[int, int]] | None:
    """Up to ``limit`` (id, like_count) by (like_count, id) descending after ``after`` among
    the newest ``cap`` visible posts; None when the window holds fewer than ``cap`` visible
    posts and not the whole scope."""
    ranked = [
        (window.likes[index], post_id) for index, post_id in enumerate(window.ids) if shown[index]
    ][:cap]
    if len(ranked) < cap and not window.complete:
        return None
    ranked.sort(reverse=True)
    if after is not None:
        ranked = [key for key in ranked if key < after]
    return [(post_id, likes) for likes, post_id in ranked[:limit]]


# --- invalidation (called by app/feed/services.py on commit) ---------------------------------


def _bump(scopes: Sequence[str]) -> None:
    conn = store.connection()
    with conn.pipeline(transaction=False) as pipe:
        for scope in scopes:
            pipe.incr(_gen_key(scope))
            pipe.expire(_gen_key(scope), TTL)
            pipe.delete(_window_key(scope))
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
    store.connection().incr(_all_key())
