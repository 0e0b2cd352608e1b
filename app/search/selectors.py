"""Reads for search: results per kind, typeahead, history, trending, hashtag and place pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from app.accounts.models import Follow, User
from app.lab import strategies as lab
from app.lab.api import decode_cursor, not_found, page, parse_limit
from app.posts.models import Hashtag, Place, Post
from app.posts.selectors import post_queryset
from app.posts.text import HASHTAG_MAX, hashtag_normalize
from app.search.models import SearchQuery
from app.search.normalize import SearchText
from app.search.strategies import KINDS, STRATEGIES, Kind, Row, SearchStrategy

Viewer = User | AnonymousUser

# Top posts of a hashtag or place are ranked among its newest this many visible posts, so a
# tag with a million posts costs the same as one with a thousand.
TOP_CAP = 500
TRENDING_KEY = "search:v1:trending"
TRENDING_TTL = 300
TRENDING_LIMIT = 10
TRENDING_WINDOW = timedelta(hours=24)


def _strategy(override: str | None = None) -> SearchStrategy:
    return STRATEGIES[lab.choose("search", override=override)]


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


def search_suggest(*, query: SearchText, strategy: str | None = None) -> list[Row]:
    """Typeahead: the top 8 users, hashtags and places by prefix, one statement."""
    return _strategy(strategy).suggest(query=query)


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
        after = decode_cursor(cursor, (datetime, int))
        keyset = Q()
        if after:
            keyset = Q(created_at__lt=after[0]) | Q(created_at=after[0], id__lt=after[1])
        items = list(
            post_queryset(viewer=viewer)
            .filter(visible & keyset)
            .order_by("-created_at", "-id")[: size + 1]
        )
        return page(items, size, lambda post: (post.created_at, post.pk))
    top_after = decode_cursor(cursor, (int, int))
    keyset = Q()
    if top_after:
        keyset = Q(like_count__lt=top_after[0]) | Q(like_count=top_after[0], id__lt=top_after[1])
    newest = Post.objects.filter(visible).order_by("-created_at", "-id").values("id")[:TOP_CAP]
    items = list(
        post_queryset(viewer=viewer)
        .filter(keyset, id__in=newest)
        .order_by("-like_count", "-id")[: size + 1]
    )
    return page(items, size, lambda post: (post.like_count, post.pk))


def hashtag_page(
    *, viewer: Viewer, name: str, order: str, cursor: str | None, limit: int | None
) -> tuple[Hashtag, dict[str, Any]]:
    """A hashtag's header and a page of its top or recent visible posts; 404 if unknown."""
    normalized = hashtag_normalize(name.strip().lstrip("#"))
    tag = None
    if 0 < len(normalized) <= HASHTAG_MAX:
        tag = Hashtag.objects.filter(name=normalized).first()
    if tag is None:
        raise not_found("hashtag")
    scope = Q(hashtags=tag)
    return tag, _posts_page(viewer=viewer, scope=scope, order=order, cursor=cursor, limit=limit)


def place_page(
    *, viewer: Viewer, place_id: int, order: str, cursor: str | None, limit: int | None
) -> tuple[Place, dict[str, Any]]:
    """A place's header and a page of its top or recent visible posts; 404 if unknown."""
    place = Place.objects.filter(pk=place_id).first()
    if place is None:
        raise not_found("place")
    scope = Q(place_id=place.pk)
    return place, _posts_page(viewer=viewer, scope=scope, order=order, cursor=cursor, limit=limit)


# --- history and trending -------------------------------------------------------------------


def history_page(*, user: User, cursor: str | None, limit: int | None) -> dict[str, Any]:
    """The user's searches and clicks, newest first, each (kind, target, query) once."""
    size = parse_limit(limit)
    after = decode_cursor(cursor, (datetime, int))
    keyset = Q()
    if after:
        keyset = Q(created_at__lt=after[0]) | Q(created_at=after[0], id__lt=after[1])
    # Writes already replace an older duplicate; this also hides duplicates a bulk load made.
    newer = SearchQuery.objects.filter(
        Q(created_at__gt=OuterRef("created_at"))
        | Q(created_at=OuterRef("created_at"), id__gt=OuterRef("id")),
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
    """The most searched queries of the last 24 hours by distinct users, cached 5 minutes."""
    cached: list[dict[str, Any]] | None = cache.get(TRENDING_KEY)
    if cached is not None:
        return cached
    since = timezone.now() - TRENDING_WINDOW
    rows = [
        dict(row)
        for row in SearchQuery.objects.filter(kind=SearchQuery.Kind.QUERY, created_at__gte=since)
        .values("query")
        .annotate(searches=Count("user_id", distinct=True))
        .order_by("-searches", "query")[:TRENDING_LIMIT]
    ]
    cache.set(TRENDING_KEY, rows, TRENDING_TTL)
    return rows
