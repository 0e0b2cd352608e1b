"""Reads about users and the follow graph."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Value

from app.accounts.models import Follow, FollowRequest, User
from app.accounts.schemas import USER_SUMMARY_FIELDS
from app.core import replicas
from app.core.keyset import keyset_past
from app.lab.api import not_found

Viewer = User | AnonymousUser


def user_can_view_content(*, viewer: User | AnonymousUser, owner: User) -> bool:
    """May ``viewer`` see ``owner``'s posts, followers and following? (one query at most)"""
    if not owner.is_private:
        return True
    if not viewer.is_authenticated:
        return False
    if viewer.pk == owner.pk:
        return True
    return Follow.objects.filter(follower_id=viewer.pk, followee_id=owner.pk).exists()


def _false() -> Value:
    return Value(False, output_field=BooleanField())


def _viewer_follows(viewer: Viewer, user_ref: str) -> Exists | Value:
    """Does ``viewer`` follow the user whose id is the outer column ``user_ref``?"""
    if not viewer.is_authenticated:
        return _false()
    return Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef(user_ref)))


def user_get(*, username: str) -> User:
    """A user by (case-insensitive) username; 404 when there is none."""
    user = User.objects.filter(username=User.normalize_username(username)).first()
    if user is None:
        raise not_found("user")
    return user


@functools.cache
def _user_for_viewer_sql() -> str:
    q = connection.ops.quote_name
    users, follows, requests = (q(str(m._meta.db_table)) for m in (User, Follow, FollowRequest))
    columns = ", ".join(f"u.{q(str(field.column))}" for field in User._meta.concrete_fields)
    return (
        f"SELECT {columns}, "
        f"EXISTS (SELECT 1 FROM {follows} f WHERE f.follower_id = %(viewer)s "
        "AND f.followee_id = u.id), "
        f"EXISTS (SELECT 1 FROM {requests} r WHERE r.requester_id = %(viewer)s "
        "AND r.target_id = u.id), "
        f"EXISTS (SELECT 1 FROM {follows} f WHERE f.follower_id = u.id "
        "AND f.followee_id = %(viewer)s) "
        f"FROM {users} u WHERE u.username = %(username)s"
    )


def user_for_viewer(*, viewer: Viewer, username: str) -> User:
    """A user by username with the viewer's relation to them, in one query; 404 if unknown.

    The result carries ``viewer_follows``, ``viewer_requested`` and ``follows_viewer``
    (all false for an anonymous viewer). Written as SQL: compiling the ORM's version, three
    ``Exists`` annotations, was 80 % of a warm profile request's CPU (make profile
    ENDPOINT=profile, docs/experiments/hotpaths.md).
    """
    params = {
        "viewer": viewer.pk if viewer.is_authenticated else None,
        "username": User.normalize_username(username),
    }
    with replicas.reading().cursor() as cursor:
        cursor.execute(_user_for_viewer_sql(), params)
        row = cursor.fetchone()
    if row is None:
        raise not_found("user")
    fields = [field.attname for field in User._meta.concrete_fields]
    user = User.from_db("default", fields, row[: len(fields)])
    user.viewer_follows, user.viewer_requested, user.follows_viewer = row[len(fields) :]  # type: ignore[attr-defined]
    return user


def user_lists_visible(*, viewer: Viewer, owner: User) -> bool:
    """``user_can_view_content`` without a query, for a user from :func:`user_for_viewer`."""
    if not owner.is_private:
        return True
    if viewer.is_authenticated and viewer.pk == owner.pk:
        return True
    return bool(owner.viewer_follows)  # type: ignore[attr-defined]


def _after(cursor: tuple[Any, ...] | None) -> Q:
    """Rows strictly after a (created_at, id) keyset cursor, newest first."""
    assert cursor is None or isinstance(cursor[0], datetime)
    return keyset_past(cursor)


def _edge_page(
    *,
    viewer: Viewer,
    edges: QuerySet[Follow],
    side: str,
    cursor: tuple[Any, ...] | None,
    limit: int,
) -> list[Follow]:
    """One keyset page of follow edges with the ``side`` user ("follower"/"followee") joined."""
    summary = [f"{side}__{field}" for field in USER_SUMMARY_FIELDS]
    rows = (
        edges.filter(_after(cursor))
        .select_related(side)
        .only("id", "created_at", "follower_id", "followee_id", *summary)
        .annotate(viewer_follows=_viewer_follows(viewer, f"{side}_id"))
        .order_by("-created_at", "-id")[: limit + 1]
    )
    return list(rows)


def user_followers_page(
    *, viewer: Viewer, owner: User, cursor: tuple[Any, ...] | None, limit: int
) -> list[Follow]:
    """Who follows ``owner``, newest first: up to ``limit + 1`` edges, ``follower`` joined."""
    edges = Follow.objects.filter(followee_id=owner.pk)
    return _edge_page(viewer=viewer, edges=edges, side="follower", cursor=cursor, limit=limit)


def user_following_page(
    *, viewer: Viewer, owner: User, cursor: tuple[Any, ...] | None, limit: int
) -> list[Follow]:
    """Whom ``owner`` follows, newest first: up to ``limit + 1`` edges, ``followee`` joined."""
    edges = Follow.objects.filter(follower_id=owner.pk)
    return _edge_page(viewer=viewer, edges=edges, side="followee", cursor=cursor, limit=limit)


def follow_requests_page(
    *, owner: User, cursor: tuple[Any, ...] | None, limit: int
) -> list[FollowRequest]:
    """``owner``'s pending follow requests, newest first, ``requester`` joined."""
    summary = [f"requester__{field}" for field in USER_SUMMARY_FIELDS]
    rows = (
        FollowRequest.objects.filter(_after(cursor), target_id=owner.pk)
        .select_related("requester")
        .only("id", "created_at", "requester_id", "target_id", *summary)
        .order_by("-created_at", "-id")[: limit + 1]
    )
    return list(rows)


def following_ids(*, user_id: int) -> list[int]:
    """Everyone ``user_id`` follows, in one query over follow_unique."""
    return list(Follow.objects.filter(follower_id=user_id).values_list("followee_id", flat=True))


def follows(*, follower_id: int, followee_id: int) -> bool:
    """Does ``follower_id`` follow ``followee_id``? One query over follow_unique."""
    return Follow.objects.filter(follower_id=follower_id, followee_id=followee_id).exists()
