"""Reads about posts: the one post fetch shape, detail, the profile grid and comment lists."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.query import prefetch_related_objects

from app.accounts.models import USERNAME_RE, Follow, User
from app.accounts.schemas import USER_SUMMARY_FIELDS
from app.accounts.selectors import user_can_view_content
from app.core import replicas
from app.core.keyset import keyset_past
from app.lab.api import decode_cursor, not_found, page, parse_limit
from app.posts.models import Comment, Like, Post, PostImage, Save

PREVIEW_COMMENTS = 2
_USERNAME = re.compile(USERNAME_RE)

_AUTHOR_FIELDS = tuple(f"author__{name}" for name in USER_SUMMARY_FIELDS)
_POST_FIELDS = (
    "id",
    "caption",
    "like_count",
    "comment_count",
    "created_at",
    "author_id",
    "place_id",
    "place__id",
    "place__name",
    *_AUTHOR_FIELDS,
)


def post_prefetches() -> list[Prefetch[Any]]:
    """Images in order, and the two newest comments per post (a sliced prefetch, which
    Django runs as one ROW_NUMBER() window query over the whole page of posts)."""
    images = PostImage.objects.only(
        "id", "post_id", "position", "original", "feed", "thumb", "width", "height", "alt_text"
    ).order_by("position")
    preview = (
        Comment.objects.select_related("author")
        .only("id", "post_id", "text", "created_at", "author_id", *_AUTHOR_FIELDS)
        .order_by("-created_at", "-id")[:PREVIEW_COMMENTS]
    )
    return [
        Prefetch("images", queryset=images),
        Prefetch("comments", queryset=preview, to_attr="comments_preview"),
    ]


def post_queryset(*, viewer: User | AnonymousUser) -> QuerySet[Post]:
    """Every post read renders ``PostOut`` from this: one row query plus two prefetches,
    whatever the page size or the number of images, likes and comments."""
    if viewer.is_authenticated:
        liked: Any = Exists(Like.objects.filter(post_id=OuterRef("pk"), user_id=viewer.pk))
        saved: Any = Exists(Save.objects.filter(post_id=OuterRef("pk"), user_id=viewer.pk))
    else:
        liked = saved = Value(False, output_field=BooleanField())
    return (
        Post.objects.select_related("author", "place")
        .only(*_POST_FIELDS)
        .annotate(viewer_has_liked=liked, viewer_has_saved=saved)
        .prefetch_related(*post_prefetches())
    )


def post_visible_get(*, viewer: User | AnonymousUser, post_id: int) -> Post:
    """The post with just its author, if ``viewer`` may see it; 404 otherwise (even when the
    post exists, so a private account's post ids leak nothing)."""
    post = (
        Post.objects.select_related("author")
        .only("id", "author_id", "place_id", *_AUTHOR_FIELDS)
        .filter(pk=post_id)
        .first()
    )
    if post is None or not user_can_view_content(viewer=viewer, owner=post.author):
        raise not_found("post")
    return post


def post_detail(*, viewer: User | AnonymousUser, post_id: int) -> Post:
    """One post shaped for ``PostOut``; prefetches run only once visibility is settled."""
    post = post_queryset(viewer=viewer).prefetch_related(None).filter(pk=post_id).first()
    if post is None or not user_can_view_content(viewer=viewer, owner=post.author):
        raise not_found("post")
    prefetch_related_objects([post], *post_prefetches())
    return post


def _keyset_before(cursor: str | None) -> Q:
    """Rows strictly after the cursor in (created_at, id) descending order."""
    return keyset_past(decode_cursor(cursor, (datetime, int)))


def _keyset_after(cursor: str | None) -> Q:
    """Rows strictly after the cursor in (created_at, id) ascending order."""
    return keyset_past(decode_cursor(cursor, (datetime, int)), descending=False)


def user_posts_page(
    *, viewer: User | AnonymousUser, username: str, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """A profile grid page: the user's posts newest first, keyset on (created_at, id)."""
    size = parse_limit(limit)
    after = _keyset_before(cursor)
    username = username.lower()
    # A name no account can have (NUL bytes, 300 characters) is simply not found.
    valid = _USERNAME.match(username) is not None
    owner = (
        User.objects.only(*USER_SUMMARY_FIELDS).filter(username=username).first() if valid else None
    )
    if owner is None or not user_can_view_content(viewer=viewer, owner=owner):
        raise not_found("user")
    posts = list(
        post_queryset(viewer=viewer)
        .filter(after, author_id=owner.pk)
        .order_by("-created_at", "-id")[: size + 1]
    )
    return page(posts, size, lambda post: (post.created_at, post.pk))


def visible_sql(*, author: str, private: str) -> str:
    """``user_can_view_content`` in SQL, for the columns ``author`` (the owner's id) and
    ``private`` (their is_private), with the viewer's id as ``%(viewer)s`` (0 when
    anonymous: no account has that id)."""
    follows = connection.ops.quote_name(Follow._meta.db_table)
    return (
        f"(NOT {private} OR {author} = %(viewer)s OR EXISTS (SELECT 1 FROM {follows} f "
        f"WHERE f.follower_id = %(viewer)s AND f.followee_id = {author}))"
    )


def viewer_id(viewer: User | AnonymousUser) -> int:
    """The viewer's id as raw SQL parameters take it: 0 when anonymous."""
    return int(viewer.pk) if viewer.is_authenticated else 0


def user_post_keys(
    *, viewer: User | AnonymousUser, username: str, cursor: str | None, limit: int
) -> list[tuple[int, datetime]]:
    """The profile grid's page as (id, created_at), up to ``limit`` rows, newest first, keyset
    on (created_at, id); 404 when the user is unknown or hidden from ``viewer``.

    One statement for what ``user_posts_page`` reads in two (the owner, the follow check)
    before its posts: the owner row with its visibility, joined to at most ``limit`` keys
    read from post_author_recent (no post row is read when the grid is hidden)."""
    after = decode_cursor(cursor, (datetime, int))
    username = username.lower()
    if _USERNAME.match(username) is None:
        # A name no account can have (NUL bytes, 300 characters) is simply not found.
        raise not_found("user")
    q = connection.ops.quote_name
    users, posts = q(User._meta.db_table), q(Post._meta.db_table)
    keyset = "" if after is None else "AND (p.created_at, p.id) < (%(at)s, %(id)s)"
    visible = visible_sql(author="u.id", private="u.is_private")
    sql = (
        f"SELECT o.visible, k.id, k.created_at FROM (SELECT u.id, {visible} AS visible "
        f"FROM {users} u WHERE u.username = %(username)s) o "
        f"LEFT JOIN LATERAL (SELECT p.id, p.created_at FROM {posts} p "
        f"WHERE o.visible AND p.author_id = o.id {keyset} "
        "ORDER BY p.created_at DESC, p.id DESC LIMIT %(limit)s) k ON true "
        "ORDER BY k.created_at DESC, k.id DESC"
    )
    params: dict[str, Any] = {"viewer": viewer_id(viewer), "username": username, "limit": limit}
    if after is not None:
        params |= {"at": after[0], "id": after[1]}
    with replicas.reading().cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    if not rows or not rows[0][0]:
        raise not_found("user")
    return [(post_id, created_at) for _, post_id, created_at in rows if post_id is not None]


def saved_post_keys(
    *, viewer: User, cursor: str | None, limit: int
) -> list[tuple[int, datetime, int]]:
    """The viewer's saved posts as (post id, saved at, save id), up to ``limit`` rows, newest
    save first, keyset on the save's (created_at, id): one statement over save_user_recent.

    Only posts the viewer may still see: a save of a private account's post drops out of the
    list when the viewer stops following them, and comes back if they follow again."""
    after = decode_cursor(cursor, (datetime, int))
    q = connection.ops.quote_name
    saves, posts, users = (q(m._meta.db_table) for m in (Save, Post, User))
    keyset = "" if after is None else "AND (s.created_at, s.id) < (%(at)s, %(id)s)"
    visible = visible_sql(author="a.id", private="a.is_private")
    sql = (
        f"SELECT s.post_id, s.created_at, s.id FROM {saves} s "
        f"JOIN {posts} p ON p.id = s.post_id JOIN {users} a ON a.id = p.author_id "
        f"WHERE s.user_id = %(viewer)s {keyset} AND {visible} "
        "ORDER BY s.created_at DESC, s.id DESC LIMIT %(limit)s"
    )
    params: dict[str, Any] = {"viewer": viewer.pk, "limit": limit}
    if after is not None:
        params |= {"at": after[0], "id": after[1]}
    with replicas.reading().cursor() as db:
        db.execute(sql, params)
        return [(post_id, saved_at, save_id) for post_id, saved_at, save_id in db.fetchall()]


def comment_page(
    *, viewer: User | AnonymousUser, post_id: int, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """A post's comments oldest first (reading order, as under a post), keyset on
    (created_at, id); the newest two also ride along in ``PostOut.comments_preview``."""
    size = parse_limit(limit)
    after = _keyset_after(cursor)
    post_visible_get(viewer=viewer, post_id=post_id)
    comments = list(
        Comment.objects.select_related("author")
        .only("id", "post_id", "text", "created_at", "author_id", *_AUTHOR_FIELDS)
        .filter(after, post_id=post_id)
        .order_by("created_at", "id")[: size + 1]
    )
    return page(comments, size, lambda comment: (comment.created_at, comment.pk))


def viewer_flags(*, viewer_id: int, post_ids: Sequence[int]) -> dict[int, tuple[bool, bool]]:
    """(liked, saved) per post for one viewer, in one query over like_unique/save_unique."""
    rows = (
        Post.objects.filter(pk__in=post_ids)
        .annotate(
            liked=Exists(Like.objects.filter(post_id=OuterRef("pk"), user_id=viewer_id)),
            saved=Exists(Save.objects.filter(post_id=OuterRef("pk"), user_id=viewer_id)),
        )
        .values_list("id", "liked", "saved")
    )
    return {post_id: (liked, saved) for post_id, liked, saved in rows}
