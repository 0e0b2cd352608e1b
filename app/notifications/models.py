"""A notification: one thing another user did that concerns the recipient."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from app.posts.models import Comment, Post

# Enough of a comment or caption to recognise it in the list; the post holds the rest.
EXCERPT_MAX = 120


class Verb(models.TextChoices):
    LIKE = "like"
    COMMENT = "comment"
    MENTION = "mention"
    FOLLOW = "follow"
    FOLLOW_REQUEST = "follow_request"
    SHARE = "share"


# Verbs that notify at most once per actor, recipient and post, however often the action is
# repeated (like, unlike, like again; a share retried). The services' ON CONFLICT clause
# names the index's predicate (:data:`ONCE_SQL`).
ONCE = [Verb.LIKE, Verb.FOLLOW, Verb.FOLLOW_REQUEST, Verb.SHARE]
ONCE_SQL = "verb IN ({})".format(", ".join(f"'{verb.value}'" for verb in ONCE))


class Notification(models.Model):
    """Rows are only ever inserted (raw SQL in services, ON CONFLICT for the verbs above) and
    marked read; the id orders them, newest first. ``created_at`` and ``text`` default in the
    database, so an INSERT names only what it knows."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verb = models.CharField(max_length=16, choices=Verb.choices)
    # Deleting the post or the comment deletes what was said about it.
    post = models.ForeignKey(
        Post, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    comment = models.ForeignKey(
        Comment, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    text = models.CharField(max_length=EXCERPT_MAX, blank=True, db_default="")
    created_at = models.DateTimeField(db_default=Now())
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["actor", "recipient", "verb", "post"],
                condition=models.Q(verb__in=ONCE),
                nulls_distinct=False,  # a follow has no post: still once
                name="notification_once",
            ),
        ]
        indexes = [
            # The recipient's list, newest first, keyset on id.
            models.Index(fields=["recipient", "-id"], name="notification_recipient_recent"),
            # The unread badge's count and "mark read", both over the unread rows only.
            models.Index(
                fields=["recipient", "id"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            ),
            # Cascades from a deleted post or comment.
            models.Index(
                fields=["post"], condition=models.Q(post__isnull=False), name="notification_post"
            ),
            models.Index(
                fields=["comment"],
                condition=models.Q(comment__isnull=False),
                name="notification_comment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.verb} -> {self.recipient_id}"
