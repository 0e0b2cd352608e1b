"""Reads of notifications: the recipient's page, newest first, and the unread count.

Both leave out a notification whose post the recipient may not see now (its author turned
private, or the recipient unfollowed them since): the post, its thumbnail and the comment
about it must not leak through the list.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from app.accounts.models import Follow, FollowRequest, User
from app.accounts.schemas import USER_SUMMARY_FIELDS
from app.notifications.models import Notification
from app.posts.models import PostImage

# The badge says "99+" past this: counting further would read every unread row.
UNREAD_MAX = 100


def _visible(user: User) -> Q:
    """No post, or one ``user`` may see: theirs, public, or by someone they follow."""
    follows_author = Follow.objects.filter(
        follower_id=user.pk, followee_id=OuterRef("post__author_id")
    )
    return (
        Q(post__isnull=True)
        | Q(post__author_id=user.pk)
        | Q(post__author__is_private=False)
        | Q(Exists(follows_author))
    )


def _mine(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient_id=user.pk).filter(_visible(user))


def notifications_page(*, user: User, before: int | None, limit: int) -> list[Notification]:
    """Up to ``limit + 1`` notifications older than id ``before``, in one query: each with its
    actor, its post's first thumbnail (``thumb``) and, for a follow request, whether it is
    still pending (``request_pending``)."""
    thumb = PostImage.objects.filter(post_id=OuterRef("post_id"), position=0).values("thumb")
    pending = FollowRequest.objects.filter(requester_id=OuterRef("actor_id"), target_id=user.pk)
    rows = (
        _mine(user)
        .select_related("actor")
        .only("id", "verb", "post_id", "text", "created_at", "read_at", "actor_id",
              *(f"actor__{name}" for name in USER_SUMMARY_FIELDS))
        .annotate(thumb=Subquery(thumb[:1]), request_pending=Exists(pending))
        .order_by("-id")
    )  # fmt: skip
    if before is not None:
        rows = rows.filter(id__lt=before)
    return list(rows[: limit + 1])


def unread_count(*, user: User) -> int:
    """Unread notifications the user may see, up to :data:`UNREAD_MAX`."""
    return _mine(user).filter(read_at__isnull=True)[:UNREAD_MAX].count()
