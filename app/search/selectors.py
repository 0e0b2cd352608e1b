"""Reads for search: results per kind, typeahead, history, trending, hashtag and place pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from app.accounts.models import Follow, User
from app.core import degrade, replicas
from app.core.keyset import keyset_past
from app.feed import store
from app.lab import stats
from app.lab import strategies as lab
from app.lab.api import ApiError, decode_cursor, not_found, page, parse_limit
from app.posts import cached, viewcache
from app.posts.fragments import PostJSON
from app.posts.models import Hashtag, Place, Post, PostHashtag
from app.posts.selectors import post_queryset, viewer_id, visible_sql
from app.posts.text import HASHTAG_MAX, hashtag_normalize
from app.search import windows
from app.search.models import SearchQuery
from app.search.normalize import SearchText
from app.search.strategies import KINDS, STRATEGIES, Kind, SearchStrategy, Suggestion

Viewer = User | AnonymousUser

# Top posts of a hashtag or place are ranked among its newest this many visible posts, so a
# tag with a million posts costs the same as one with a thousand.
TOP_CAP = windows.TOP_CAP
TRENDING_KEY = "search:v1:trending"
TRENDING_TTL = 300
TRENDING_LIMIT = 10
TRENDING_WINDOW = timedelta(hours=24)
# The typeahead's default, where the catalogue's (indexed) is for results. Results depend on
# the viewer (follow boost, private authors), so their cache is per viewer, rarely hit, and
# 30 s stale; suggestions ignore the viewer, so one entry per prefix serves everyone, and
# every keystroke of every user asks for a handful of short prefixes.
SUGGEST_DEFAULT = "cached"


def _strategy(override: str | None = None) -> SearchStrategy:
    return STRATEGIES[lab.choose("search", override=override)]


def suggest_strategy(override: str | None = None) -> SearchStrategy:
    """The typeahead's strategy: ``override``, else one an X-Lab-Strategy header names for
    ``search``, else :data:`SUGGEST_DEFAULT`; recorded for Server-Timing like any choice."""
    if override is None:
        request_stats = stats.current()
        if request_stats is not None and settings.LAB_EXPERIMENTS:
            override = request_stats.requested.get("search")
    return _strategy(override or SUGGEST_DEFAULT)


def _viewer_id(viewer: Viewer) -> int | None:
    return viewer.pk if viewer.is_authenticated else None


def search_kind_page(
    *,
    viewer: Viewer,
    kind: Kind,
    query: SearchText,
    cursor: str | None,
    limit: int,
    strategy: str | None = None,
) -> dict[str, Any]:
    """One keyset page of ``kind`` rows, best first; the cursor is the last (score, id)."""
    after = decode_cursor(cursor, (float, int))
    rows = _strategy(strategy).search(
        kind=kind,
        query=query,
        viewer_id=_viewer_id(viewer),
        after=(after[0], after[1]) if after else None,
        limit=limit + 1,
    )
    return page(rows, limit, lambda row: (row["score"], row["id"]))


def search_all(
    *, viewer: Viewer, query: SearchText, limit: int, strategy: str | None = None
) -> dict[str, dict[str, Any]]:
    """The first page of every kind: one statement each."""
    chosen = lab.choose("search", override=strategy)
    return {
        kind: search_kind_page(
            viewer=viewer, kind=kind, query=query, cursor=None, limit=limit, strategy=chosen
        )
        for kind in KINDS
    }


def search_suggest(*, query: SearchText, strategy: str | None = None) -> list[Suggestion]:
    """Typeahead: the top 8 users, hashtags and places by prefix: one statement, or none
    from the cache, its default (``suggest_strategy`` says why)."""
    return list(suggest_strategy(strategy).suggest(query=query))


# --- hashtag and place pages ----------------------------------------------------------------


def _visible(viewer: Viewer) -> Q:
    """Posts ``viewer`` may see: public authors, their own, and private authors they follow."""
    public = Q(author__is_private=False)
    if not viewer.is_authenticated:
        return public
    follows = Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef("author_id"))
    return public | Q(author_id=viewer.pk) | Q(Exists(follows))


def _posts_page(
    *, viewer: Viewer, scope: Q, order: str, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """Recent: keyset on (created_at, id). Top: keyset on (like_count, id) among the newest
    ``TOP_CAP`` visible posts."""
    size = parse_limit(limit)
    visible = scope & _visible(viewer)
    if order == "recent":
        keyset = keyset_past(decode_cursor(cursor, (datetime, int)))
        items = list(
            post_queryset(viewer=viewer)
            .filter(visible & keyset)
            .order_by("-created_at", "-id")[: size + 1]
        )
        return page(items, size, lambda post: (post.created_at, post.pk))
    keyset = keyset_past(decode_cursor(cursor, (int, int)), field="like_count")
    newest = Post.objects.filter(visible).order_by("-created_at", "-id").values("id")[:TOP_CAP]
    items = list(
        post_queryset(viewer=viewer)
        .filter(keyset, id__in=newest)
        .order_by("-like_count", "-id")[: size + 1]
    )
    return page(items, size, lambda post: (post.like_count, post.pk))


def hashtag_page_shaped(
    *, viewer: Viewer, name: str, order: str, cursor: str | None, limit: int | None
) -> tuple[Hashtag, dict[str, Any]]:
    """BASELINE of :func:`hashtag_page`, all from SQL: the header, then the page's posts in
    the shaped query and its two prefetches (``post_queryset`` items)."""
    normalized = hashtag_normalize(name.strip().lstrip("#"))
    tag = None
    if 0 < len(normalized) <= HASHTAG_MAX:
        tag = _hashtags_counted().filter(name=normalized).first()
    if tag is None:
        raise not_found("hashtag")
    tag.post_count = tag.public_count  # type: ignore[attr-defined]
    scope = Q(hashtags=tag)
    try:
        found = _posts_page(viewer=viewer, scope=scope, order=order, cursor=cursor, limit=limit)
    except ApiError:
        if tag.post_count == 0:
            raise not_found("hashtag") from None  # as hashtag_page: existence is not told
        raise
    _hidden_check(post_count=tag.post_count, cursor=cursor, shown=len(found["items"]))
    return tag, found


def place_page_shaped(
    *, viewer: Viewer, place_id: int, order: str, cursor: str | None, limit: int | None
) -> tuple[Place, dict[str, Any]]:
    """BASELINE of :func:`place_page`, all from SQL (``post_queryset`` items)."""
    place = Place.objects.filter(pk=place_id).first()
    if place is None:
        raise not_found("place")
    scope = Q(place_id=place.pk)
    return place, _posts_page(viewer=viewer, scope=scope, order=order, cursor=cursor, limit=limit)


# Where a page's posts come from, per page kind: the FROM clause (``p`` is the post), the
# scope on the header row ``h``, and the (time, id) columns of the newest-first index.
_HASHTAG_SOURCE = ("{links} s JOIN {posts} p ON p.id = s.post_id", "s.hashtag_id = h.id", "s")
_PLACE_SOURCE = ("{posts} p", "p.place_id = h.id", "p")
# The header row ``h`` of each: ``{table}`` is its model's, ``%(target)s`` the name or the id.
_HASHTAG_HEADER = (
    "(SELECT id, name, public_post_count AS post_count, last_used_at FROM {table} "
    "WHERE name = %(target)s) h"
)
_PLACE_HEADER = (
    "(SELECT id, name, address, latitude, longitude, post_count FROM {table} "
    "WHERE id = %(target)s) h"
)


@dataclass(frozen=True)
class _PageKind:
    """A hashtag's or a place's page: its header row, where its posts come from, the scope of
    its window (app/search/windows.py), and what its 404 names."""

    model: type[Hashtag] | type[Place]
    header: str
    source: tuple[str, str, str]
    scope: Callable[[Any], str]
    missing: str


_HASHTAG_PAGE = _PageKind(
    Hashtag, _HASHTAG_HEADER, _HASHTAG_SOURCE, windows.hashtag_scope, "hashtag"
)
_PLACE_PAGE = _PageKind(Place, _PLACE_HEADER, _PLACE_SOURCE, windows.place_scope, "place")


def _page_sql(*, header: str, source: tuple[str, str, str], order: str, keyset: bool) -> str:
    """One statement: the header row ``h`` (the subquery ``header``), left-joined to the keys
    (id, sort key), best first. Visibility is settled in SQL exactly as ``_visible`` does.

    Recent walks the newest-first index (posthashtag_hashtag_recent: the link row carries
    the post's created_at; post_place_recent) from the cursor and stops at the page's end.
    Top ranks by (like_count, id) among the newest TOP_CAP visible posts."""
    q = connection.ops.quote_name
    names = {"links": q(PostHashtag._meta.db_table), "posts": q(Post._meta.db_table)}
    users = q(User._meta.db_table)
    tables, scope, alias = source
    time, row = (f"{alias}.created_at", "s.post_id" if alias == "s" else "p.id")
    visible = visible_sql(author="p.author_id", private="a.is_private")
    where = f"{scope} AND {visible}"
    body = f"FROM {tables.format(**names)} JOIN {users} a ON a.id = p.author_id WHERE {where}"
    if order == "recent":
        after = f"AND ({time}, {row}) < (%(key)s, %(id)s)" if keyset else ""
        page_sql = (
            f"SELECT p.id, {time} AS key {body} {after} "
            f"ORDER BY {time} DESC, {row} DESC LIMIT %(limit)s"
        )
    else:
        after = "WHERE (n.key, n.id) < (%(key)s, %(id)s)" if keyset else ""
        page_sql = (
            f"SELECT n.id, n.key FROM (SELECT p.id, p.like_count AS key {body} "
            f"ORDER BY {time} DESC, {row} DESC LIMIT {TOP_CAP}) n {after} "
            "ORDER BY n.key DESC, n.id DESC LIMIT %(limit)s"
        )
    return (
        f"SELECT h.*, k.id, k.key FROM {header} "
        f"LEFT JOIN LATERAL ({page_sql}) k ON true ORDER BY k.key DESC, k.id DESC"
    )


def _header_and_keys(
    *, viewer: Viewer, kind: _PageKind, target: str | int, page: tuple[str, str | None, int]
) -> tuple[tuple[Any, ...], list[tuple[int, Any]]] | None:
    """The header row's columns and up to ``size + 1`` page keys (id, sort key), in one
    statement (``page``: order, cursor, size); None when there is no header row."""
    order, cursor, size = page
    header = kind.header.format(table=connection.ops.quote_name(kind.model._meta.db_table))
    after = decode_cursor(cursor, (datetime, int) if order == "recent" else (int, int))
    sql = _page_sql(header=header, source=kind.source, order=order, keyset=after is not None)
    params: dict[str, Any] = {"target": target, "viewer": viewer_id(viewer), "limit": size + 1}
    if after is not None:
        params |= {"key": after[0], "id": after[1]}
    with replicas.reading().cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    if not rows:
        return None
    width = len(rows[0]) - 2
    keys = [(row[width], row[width + 1]) for row in rows if row[width] is not None]
    return rows[0][:width], keys


def _page_of(*, viewer: Viewer, keys: list[tuple[int, Any]], size: int) -> dict[str, Any]:
    """The page body: bodies and flags from Redis, the cursor from the last key SQL listed."""
    items: list[PostJSON] = cached.bodies_viewed(
        viewer=viewer, post_ids=[post_id for post_id, _ in keys[:size]]
    )
    next_cursor = page(keys, size, lambda key: (key[1], key[0]))["next_cursor"]
    return {"items": items, "next_cursor": next_cursor}


def _window_keys(
    *, viewer: Viewer, scope: str, order: str, cursor: str | None, size: int
) -> tuple[windows.Window, list[tuple[int, Any]] | None] | None:
    """The scope's window and the page's keys cut from it, exactly as the page statement
    would list them (None keys: the window cannot tell, the statement runs); None when the
    hashtag or place does not exist."""
    found = windows.window_get(viewcache.connection(), scope=scope, viewer_id=viewer_id(viewer))
    if found is None:
        return None
    window, shown = found
    if order == "recent":
        recent_after = decode_cursor(cursor, (datetime, int))
        after = None if recent_after is None else (recent_after[0], recent_after[1])
        return window, windows.page_recent(window, shown, after, size + 1)
    top_after = decode_cursor(cursor, (int, int))
    top = None if top_after is None else (top_after[0], top_after[1])
    return window, windows.page_top(window, shown, top, size + 1)


def _scope_keys(
    *, viewer: Viewer, kind: _PageKind, target: str | int, page: tuple[str, str | None, int]
) -> tuple[windows.Window, list[tuple[int, Any]]]:
    """The window of the hashtag or place ``target`` and the page's keys (``page``: order,
    cursor, size): cut from the window, or read by the page statement when the window cannot
    tell; ``not_found`` when the hashtag or place does not exist."""
    order, cursor, size = page
    found_window = _window_keys(
        viewer=viewer, scope=kind.scope(target), order=order, cursor=cursor, size=size
    )
    if found_window is None:
        raise not_found(kind.missing)
    window, keys = found_window
    if keys is None:
        found = _header_and_keys(viewer=viewer, kind=kind, target=target, page=page)
        if found is None:
            raise not_found(kind.missing)
        keys = found[1]
    return window, keys


def _parameters_checked(order: str, cursor: str | None, limit: int | None, exists: Any) -> int:
    """The page size, once the cursor and limit are valid. An invalid one is a 400 only when
    the page exists (``exists()`` reads it): an unknown page stays a 404, as ever."""
    try:
        size = parse_limit(limit)
        decode_cursor(cursor, (datetime, int) if order == "recent" else (int, int))
    except ApiError:
        exists()
        raise
    return size


def _hashtags_counted() -> QuerySet[Hashtag]:
    """Hashtags with ``public_count``: their public posts, the count every viewer is shown
    (search migration 0005 keeps it; the model does not declare the column)."""
    table = connection.ops.quote_name(Hashtag._meta.db_table)
    return Hashtag.objects.annotate(public_count=RawSQL(f"{table}.public_post_count", ()))


def _hidden_check(*, post_count: int, cursor: str | None, shown: int) -> None:
    """404 for a hashtag that no public post carries when the viewer sees none of its posts
    either: a tag used only in private posts is not revealed to whoever cannot see them."""
    if post_count == 0 and cursor is None and shown == 0:
        raise not_found("hashtag")


def hashtag_page(
    *, viewer: Viewer, name: str, order: str, cursor: str | None, limit: int | None
) -> tuple[Hashtag, dict[str, Any]]:
    """A hashtag's header and a page of its top or recent visible posts; 404 if unknown, or
    if only private posts the viewer cannot see carry it. ``post_count`` counts public posts
    (the count is shared by every viewer). One SQL statement for the header and the page's
    keys; bodies and flags from Redis."""
    normalized = hashtag_normalize(name.strip().lstrip("#"))
    if not 0 < len(normalized) <= HASHTAG_MAX:
        raise not_found("hashtag")

    def exists() -> None:
        # A tag only private posts carry is not found here: the page would be a 404 to
        # whoever cannot see them, so a 400 must not tell them it exists.
        table = connection.ops.quote_name(Hashtag._meta.db_table)
        public = RawSQL(f"{table}.public_post_count > 0", (), output_field=BooleanField())
        if not Hashtag.objects.filter(public, name=normalized).exists():
            raise not_found("hashtag")

    size = _parameters_checked(order, cursor, limit, exists)
    window, keys = _scope_keys(
        viewer=viewer, kind=_HASHTAG_PAGE, target=normalized, page=(order, cursor, size)
    )
    tag_id, tag_name, post_count, used = window.header
    _hidden_check(post_count=post_count, cursor=cursor, shown=len(keys))
    last_used_at = None if used is None else store.created_at_of(used)
    tag = Hashtag(id=tag_id, name=tag_name, post_count=post_count, last_used_at=last_used_at)
    return tag, _page_of(viewer=viewer, keys=keys, size=size)


def place_page(
    *, viewer: Viewer, place_id: int, order: str, cursor: str | None, limit: int | None
) -> tuple[Place, dict[str, Any]]:
    """A place's header and a page of its top or recent visible posts; 404 if unknown.
    One SQL statement for the header and the page's keys; bodies and flags from Redis."""

    def exists() -> None:
        if not Place.objects.filter(pk=place_id).exists():
            raise not_found("place")

    size = _parameters_checked(order, cursor, limit, exists)
    window, keys = _scope_keys(
        viewer=viewer, kind=_PLACE_PAGE, target=place_id, page=(order, cursor, size)
    )
    pk, place_name, address, latitude, longitude, post_count = window.header
    place = Place(
        id=pk,
        name=place_name,
        address=address,
        latitude=Decimal(latitude),
        longitude=Decimal(longitude),
        post_count=post_count,
    )
    return place, _page_of(viewer=viewer, keys=keys, size=size)


def hashtag_page_check(*, viewer: Viewer, name: str) -> None:
    """``not_found`` when the API's hashtag page is a 404 for ``viewer`` (unknown, or carried
    only by posts they cannot see): the web page's check, by the API's own rule."""
    read = hashtag_page if degrade.redis_up() else hashtag_page_shaped
    read(viewer=viewer, name=name, order="recent", cursor=None, limit=1)


def place_get(*, place_id: int) -> Place:
    """The place, or ``not_found``: the place page's one rule (any place may be shown)."""
    place = Place.objects.filter(pk=place_id).only("id", "name").first()
    if place is None:
        raise not_found("place")
    return place


# --- history and trending -------------------------------------------------------------------


def history_page(*, user: User, cursor: str | None, limit: int | None) -> dict[str, Any]:
    """The user's searches and clicks, newest first, each (kind, target, query) once."""
    size = parse_limit(limit)
    keyset = keyset_past(decode_cursor(cursor, (datetime, int)))
    # Writes already replace an older duplicate; this also hides duplicates a bulk load made.
    newer = SearchQuery.objects.filter(
        keyset_past((OuterRef("created_at"), OuterRef("id")), descending=False),
        user_id=user.pk,
        query=OuterRef("query"),
        kind=OuterRef("kind"),
        target_type=OuterRef("target_type"),
    )
    entries = list(
        SearchQuery.objects.filter(keyset, user_id=user.pk)
        .exclude(Exists(newer))
        .only("id", "query", "kind", "target_type", "target_id", "created_at")
        .order_by("-created_at", "-id")[: size + 1]
    )
    return page(entries, size, lambda entry: (entry.created_at, entry.pk))


def trending_list() -> list[dict[str, Any]]:
    """The most searched queries of the last 24 hours by distinct users, cached 5 minutes.

    A query searched by fewer than ``SEARCH_TRENDING_MIN_USERS`` distinct users is never
    listed: one person's search must not be published to everyone."""
    cached: list[dict[str, Any]] | None = cache.get(TRENDING_KEY)
    if cached is not None:
        return cached
    since = timezone.now() - TRENDING_WINDOW
    rows = [
        dict(row)
        for row in SearchQuery.objects.filter(kind=SearchQuery.Kind.QUERY, created_at__gte=since)
        .values("query")
        .annotate(searches=Count("user_id", distinct=True))
        .filter(searches__gte=settings.SEARCH_TRENDING_MIN_USERS)
        .order_by("-searches", "query")[:TRENDING_LIMIT]
    ]
    cache.set(TRENDING_KEY, rows, TRENDING_TTL)
    return rows
