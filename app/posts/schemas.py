"""API shapes for posts. ``PostOut`` is the one post shape; the feeds reuse it as is.

The ``of`` builders use ``model_construct``: their values come straight from typed model
fields, and validating them again cost 0.7 ms per post (ninja's root validator wraps every
nested object in its Django-aware getter), 14 ms of the 16.5 ms optimized feed page
(docs/experiments/feed.md). Request bodies (``CommentIn``) are still validated."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from app.accounts.schemas import UserSummary
from app.core.text import CleanText
from app.posts.models import COMMENT_MAX, Comment, Post, PostImage
from app.posts.text import caption_entities


class CaptionEntityOut(Schema):
    """``text`` is the normalised hashtag name or username; ``start:end`` spans ``#x``/``@x``
    in the caption, counted in Unicode code points."""

    type: Literal["hashtag", "mention"]
    text: str
    start: int
    end: int


class PlaceOut(Schema):
    id: int
    name: str


class PostImageOut(Schema):
    position: int
    url: str
    thumb_url: str
    original_url: str
    width: int
    height: int
    alt_text: str

    @staticmethod
    def of(image: PostImage) -> PostImageOut:
        return PostImageOut.model_construct(
            position=image.position,
            url=image.feed.url,
            thumb_url=image.thumb.url,
            original_url=image.original.url,
            width=image.width,
            height=image.height,
            alt_text=image.alt_text,
        )


class CommentOut(Schema):
    id: int
    author: UserSummary
    text: str
    created_at: datetime

    @staticmethod
    def of(comment: Comment) -> CommentOut:
        return CommentOut.model_construct(
            id=comment.pk,
            author=UserSummary.of(comment.author),
            text=comment.text,
            created_at=comment.created_at,
        )


class PostOut(Schema):
    id: int
    author: UserSummary
    caption: str
    caption_entities: list[CaptionEntityOut]
    place: PlaceOut | None
    images: list[PostImageOut]
    like_count: int
    comment_count: int
    comments_preview: list[CommentOut]
    viewer_has_liked: bool
    viewer_has_saved: bool
    created_at: datetime
    # Set on posts the home feed interleaves from the recommender (app/recs); null otherwise.
    reason: Literal["recommended"] | None = None

    @staticmethod
    def of(post: Post) -> PostOut:
        """``post`` must come from ``selectors.post_queryset`` (prefetches and viewer flags)."""
        return PostOut.model_construct(
            id=post.pk,
            author=UserSummary.of(post.author),
            caption=post.caption,
            caption_entities=[
                CaptionEntityOut.model_construct(type=e.type, text=e.text, start=e.start, end=e.end)
                for e in caption_entities(post.caption)
            ],
            place=(
                PlaceOut.model_construct(id=post.place.pk, name=post.place.name)
                if post.place
                else None
            ),
            images=[PostImageOut.of(image) for image in post.images.all()],
            like_count=post.like_count,
            comment_count=post.comment_count,
            comments_preview=[CommentOut.of(c) for c in post.comments_preview],  # type: ignore[attr-defined]
            viewer_has_liked=post.viewer_has_liked,  # type: ignore[attr-defined]
            viewer_has_saved=post.viewer_has_saved,  # type: ignore[attr-defined]
            created_at=post.created_at,
        )


class PostPage(Schema):
    items: list[PostOut]
    next_cursor: str | None


class CommentPage(Schema):
    items: list[CommentOut]
    next_cursor: str | None


class CommentIn(Schema):
    text: CleanText = Field(min_length=1, max_length=COMMENT_MAX)


class LikeStateOut(Schema):
    liked: bool
    like_count: int


class SaveStateOut(Schema):
    saved: bool
