"""Reads for the home feed: whose posts it holds, keyset id pages, and the viewer's flags."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from app.accounts.models import Follow, User
from app.core import replicas
from app.posts.models import Post
from app.posts.selectors import post_queryset

# A decoded feed cursor: the (created_at, id) of the last post of the previous page.
After = tuple[datetime, int] | None


def _keys_sql(*, authors_sql: str, after: After, limit: int) -> tuple[str, list[Any]]:
    """The newest ``limit`` (id, created_at) of the given authors, strictly after ``after``.

    One LATERAL probe per author walks post_author_recent (author, -created_at, -id) for at
    most ``limit`` rows, so a page costs O(authors x limit) index reads at any depth: no
    sequential scan and no sort of more than authors x limit rows. The row-value comparison
    is what lets the index range start exactly at the cursor.
    """
    table = connection.ops.quote_name(Post._meta.db_table)
    where, params = "", []
    if after is not None:
        where, params = "AND (p.created_at, p.id) < (%s, %s)", [after[0], after[1]]
    sql = (
        f"SELECT k.id, k.created_at FROM ({authors_sql}) AS a(author_id) "
        f"CROSS JOIN LATERAL (SELECT p.id, p.created_at FROM {table} p "
        f"WHERE p.author_id = a.author_id {where} "
        "ORDER BY p.created_at DESC, p.id DESC LIMIT %s) AS k "
        "ORDER BY k.created_at DESC, k.id DESC LIMIT %s"
    )
    return sql, [*params, limit, limit]


def _followed_and_self_sql(viewer_id: int) -> tuple[str, list[Any]]:
    """The viewer's own posts belong in the feed too, as on Instagram."""
    table = connection.ops.quote_name(Follow._meta.db_table)
    return (
        f"SELECT followee_id FROM {table} WHERE follower_id = %s UNION ALL SELECT %s::bigint",
        [viewer_id, viewer_id],
    )


def feed_keys_sql(*, viewer_id: int, after: After, limit: int) -> tuple[str, list[Any]]:
    """A feed page's statement and its parameters: the newest ``limit`` (id, created_at) by the
    accounts ``viewer_id`` follows and the viewer, strictly after ``after``."""
    authors_sql, authors_params = _followed_and_self_sql(viewer_id)
    sql, params = _keys_sql(authors_sql=authors_sql, after=after, limit=limit)
    return sql, [*authors_params, *params]


def feed_posts(*, viewer: User, after: After, limit: int) -> list[Post]:
    """A page of the feed shaped for ``PostOut`` in one row query plus the two prefetches of
    ``post_queryset``: up to ``limit`` posts by followed accounts and the viewer."""
    keys_sql, params = feed_keys_sql(viewer_id=viewer.pk, after=after, limit=limit)
    ids = RawSQL(f"SELECT id FROM ({keys_sql}) AS page", params)
    return list(post_queryset(viewer=viewer).filter(id__in=ids).order_by("-created_at", "-id"))


def feed_keys(*, viewer_id: int, after: After, limit: int) -> list[tuple[int, datetime]]:
    """Just the (id, created_at) of a feed page: the SQL truth behind the cached strategy."""
    sql, params = feed_keys_sql(viewer_id=viewer_id, after=after, limit=limit)
    with replicas.reading().cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


def author_keys(*, author_ids: Sequence[int], limit: int) -> list[tuple[int, datetime]]:
    """The newest ``limit`` (id, created_at) over ``author_ids``: rebuilds a timeline."""
    if not author_ids:
        return []
    sql, params = _keys_sql(authors_sql="SELECT unnest(%s::bigint[])", after=None, limit=limit)
    with replicas.reading().cursor() as cursor:
        cursor.execute(sql, [list(author_ids), *params])
        return [(row[0], row[1]) for row in cursor.fetchall()]


def following_with_counts(*, user_id: int) -> list[tuple[int, int]]:
    """(followee id, follower count) for everyone ``user_id`` follows, in one query."""
    return list(
        Follow.objects.filter(follower_id=user_id).values_list(
            "followee_id", "followee__follower_count"
        )
    )


def followee_follower_count(*, follower_id: int, followee_id: int) -> int | None:
    """The followee's follower count if the follow still exists, else None."""
    return (
        Follow.objects.filter(follower_id=follower_id, followee_id=followee_id)
        .values_list("followee__follower_count", flat=True)
        .first()
    )


def follower_ids(*, author_id: int) -> QuerySet[Follow, int]:
    """Everyone who follows ``author_id`` (streamed by fan-out; follow_followee_recent)."""
    return Follow.objects.filter(followee_id=author_id).values_list("follower_id", flat=True)


def post_for_fanout(*, post_id: int) -> tuple[int, str, datetime, int] | None:
    """(author id, author's username, created_at, author's follower count), or None once the
    post is gone."""
    return (
        Post.objects.filter(pk=post_id)
        .values_list("author_id", "author__username", "created_at", "author__follower_count")
        .first()
    )


def author_post_keys(*, author_id: int, limit: int) -> list[tuple[int, datetime]]:
    """One author's newest posts, for follow backfill, unfollow cleanup and celebrity lists."""
    return list(
        Post.objects.filter(author_id=author_id)
        .order_by("-created_at", "-id")
        .values_list("id", "created_at")[:limit]
    )


def author_post_ids(*, author_id: int) -> QuerySet[Post, int]:
    """Every post id of an author, streamed when their cached post bodies must go."""
    return Post.objects.filter(author_id=author_id).values_list("id", flat=True)
