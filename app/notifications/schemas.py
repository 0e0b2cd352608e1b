"""API shapes for notifications."""

from __future__ import annotations

from datetime import datetime

from django.core.files.storage import default_storage
from ninja import Field, Schema

from app.accounts.schemas import UserSummary
from app.notifications.models import Notification, Verb


class NotificationPost(Schema):
    """The post a notification is about; ``thumb_url`` is its first image's thumbnail."""

    id: int
    thumb_url: str | None


class NotificationOut(Schema):
    id: int
    verb: Verb
    actor: UserSummary
    post: NotificationPost | None
    # The comment's (or for a mention, the comment's or caption's) opening words.
    text: str
    created_at: datetime
    read: bool
    # A follow request the recipient has not approved or declined yet.
    request_pending: bool

    @staticmethod
    def of(row: Notification) -> NotificationOut:
        thumb = getattr(row, "thumb", None)
        post = None
        if row.post_id is not None:
            url = default_storage.url(thumb) if thumb else None
            post = NotificationPost.model_construct(id=row.post_id, thumb_url=url)
        return NotificationOut.model_construct(
            id=row.pk,
            verb=Verb(row.verb),
            actor=UserSummary.of(row.actor),
            post=post,
            text=row.text,
            created_at=row.created_at,
            read=row.read_at is not None,
            request_pending=row.verb == Verb.FOLLOW_REQUEST and row.request_pending,  # type: ignore[attr-defined]
        )


class NotificationPage(Schema):
    items: list[NotificationOut]
    next_cursor: str | None


class UnreadNotificationsOut(Schema):
    count: int = Field(description="unread notifications, counted up to 100")


class ReadIn(Schema):
    """Mark read the notifications with ids up to ``up_to``, or all of them when it is null."""

    up_to: int | None = Field(default=None, ge=1, le=2**63 - 1)


class ReadOut(Schema):
    marked: int
