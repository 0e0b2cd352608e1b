"""Writes on posts: create and delete, likes, saves and comments, with exact counters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from app.accounts.models import User
from app.accounts.usercache import user_changed
from app.core import events
from app.core.images import Renditions, image_renditions
from app.lab.api import ApiError, bad_request, not_found
from app.posts.models import (
    ALT_TEXT_MAX,
    CAPTION_MAX,
    COMMENT_MAX,
    MAX_IMAGES,
    Comment,
    Hashtag,
    Like,
    Mention,
    Place,
    Post,
    PostHashtag,
    PostImage,
    Save,
)
from app.posts.selectors import post_visible_get
from app.posts.text import caption_hashtags, caption_mentions, text_storable


def _decrement(field: str) -> Greatest:
    # Never below zero, so a counter that drifted (a bulk seed, a manual fix) cannot turn a
    # delete into a CHECK-constraint 500.
    return Greatest(F(field) - 1, Value(0))


def _files_delete(names: Sequence[str]) -> None:
    for name in names:
        default_storage.delete(name)


def _images_store(renditions: Sequence[Renditions], written: list[str]) -> list[PostImage]:
    """Write every rendition through the storage API; ``written`` collects names for cleanup."""
    images = []
    for position, rendition in enumerate(renditions):
        image = PostImage(position=position, width=rendition.width, height=rendition.height)
        stem = uuid.uuid4().hex
        for field, data in (
            ("original", rendition.original),
            ("feed", rendition.feed),
            ("thumb", rendition.thumb),
        ):
            file = getattr(image, field)
            file.save(f"{stem}.jpg", ContentFile(data), save=False)
            written.append(file.name)
        images.append(image)
    return images


def _hashtags_attach(*, post: Post, names: Sequence[str]) -> None:
    if not names:
        return
    # Get-or-create in bulk: concurrent posts may create the same tag, hence ignore_conflicts.
    Hashtag.objects.bulk_create([Hashtag(name=name) for name in names], ignore_conflicts=True)
    ids = sorted(Hashtag.objects.filter(name__in=names).values_list("id", flat=True))
    PostHashtag.objects.bulk_create(
        [PostHashtag(post=post, hashtag_id=tag_id, created_at=post.created_at) for tag_id in ids]
    )
    Hashtag.objects.filter(pk__in=ids).update(
        post_count=F("post_count") + 1, last_used_at=post.created_at
    )


def _mentions_attach(*, post: Post, usernames: Sequence[str]) -> None:
    if not usernames:
        return
    user_ids = User.objects.filter(username__in=usernames).values_list("id", flat=True)
    Mention.objects.bulk_create([Mention(post=post, user_id=user_id) for user_id in user_ids])


def _alt_texts_check(alt_texts: Sequence[str], *, count: int) -> None:
    if len(alt_texts) > count:
        raise bad_request("too_many_alt_texts", "alt_text has more entries than images")
    for text in alt_texts:
        if len(text) > ALT_TEXT_MAX:
            raise bad_request("alt_text_too_long", f"alt text is over {ALT_TEXT_MAX} characters")
        if not text_storable(text):
            raise bad_request("invalid_text", "alt text contains NUL or unpaired surrogates")


def post_create(
    *,
    author: User,
    uploads: Sequence[UploadedFile[bytes]],
    caption: str,
    place_id: int | None,
    alt_texts: Sequence[str] = (),
) -> Post:
    """All or nothing: every image is validated and rendered before anything is written, the
    rows go in one transaction, and files already stored are removed if anything fails.
    ``alt_texts`` describe the images in order (fewer than the images: the rest have none)."""
    if len(caption) > CAPTION_MAX:
        raise bad_request("caption_too_long", f"caption is longer than {CAPTION_MAX} characters")
    if not text_storable(caption):
        raise bad_request("invalid_text", "caption contains NUL or unpaired surrogates")
    if not uploads:
        raise bad_request("no_images", "a post needs at least one image")
    if len(uploads) > MAX_IMAGES:
        raise bad_request("too_many_images", f"a post has at most {MAX_IMAGES} images")
    _alt_texts_check(alt_texts, count=len(uploads))
    if place_id is not None and not Place.objects.filter(pk=place_id).exists():
        raise bad_request("unknown_place", f"place {place_id} does not exist")
    renditions = [
        image_renditions(upload=upload, size=upload.size, label=f"images[{index}]")
        for index, upload in enumerate(uploads)
    ]
    written: list[str] = []
    try:
        images = _images_store(renditions, written)
        with transaction.atomic():
            post = Post.objects.create(author=author, caption=caption, place_id=place_id)
            for position, image in enumerate(images):
                image.post = post
                image.alt_text = alt_texts[position] if position < len(alt_texts) else ""
            PostImage.objects.bulk_create(images)
            _hashtags_attach(post=post, names=caption_hashtags(caption))
            _mentions_attach(post=post, usernames=caption_mentions(caption))
            User.objects.filter(pk=author.pk).update(post_count=F("post_count") + 1)
            user_changed(author.pk)
            if place_id is not None:
                Place.objects.filter(pk=place_id).update(post_count=F("post_count") + 1)
            events.emit(events.PostCreated(post_id=post.pk, author_id=author.pk))
            if mentioned := caption_mentions(caption):
                events.emit(
                    events.UserMentioned(
                        actor_id=author.pk,
                        post_id=post.pk,
                        post_author_id=author.pk,
                        usernames=tuple(mentioned),
                        text=caption,
                    )
                )
    except IntegrityError:
        _files_delete(written)
        # Foreign keys are checked at commit: the place was deleted after the check above.
        raise bad_request("unknown_place", f"place {place_id} does not exist") from None
    except BaseException:
        _files_delete(written)
        raise
    return post


def post_delete(*, user: User, post_id: int) -> None:
    """Owner only: 404 when the user cannot see the post, 403 when they can but do not own it."""
    post = post_visible_get(viewer=user, post_id=post_id)
    if post.author_id != user.pk:
        raise ApiError(403, "forbidden", "only the author can delete a post")
    with transaction.atomic():
        files = [
            name
            for row in PostImage.objects.filter(post_id=post_id).values_list(
                "original", "feed", "thumb"
            )
            for name in row
        ]
        tag_ids = list(
            PostHashtag.objects.filter(post_id=post_id).values_list("hashtag_id", flat=True)
        )
        # The delete's own row count decides the decrements, so two racing deletes of one
        # post decrement once.
        _, per_model = Post.objects.filter(pk=post_id).delete()
        if not per_model.get(Post._meta.label):
            return
        User.objects.filter(pk=user.pk).update(post_count=_decrement("post_count"))
        user_changed(user.pk)
        if post.place_id is not None:
            Place.objects.filter(pk=post.place_id).update(post_count=_decrement("post_count"))
        if tag_ids:
            Hashtag.objects.filter(pk__in=tag_ids).update(post_count=_decrement("post_count"))
        transaction.on_commit(lambda: _files_delete(files))
        events.emit(events.PostDeleted(post_id=post_id, author_id=user.pk))


def _insert_ignoring_conflict(model: type[Like] | type[Save], *, user: User, post_id: int) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: True only for the one request that made
    the row. bulk_create(ignore_conflicts=True) cannot say whether it inserted."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, post_id, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (user_id, post_id) DO NOTHING RETURNING id",
            [user.pk, post_id, timezone.now()],
        )
        return cursor.fetchone() is not None


def _like_count_add(*, post_id: int, delta: int) -> int:
    """Add ``delta`` to the counter and return the new value in the same statement."""
    table = connection.ops.quote_name(Post._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET like_count = GREATEST(like_count + %s, 0) "
            "WHERE id = %s RETURNING like_count",
            [delta, post_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise not_found("post")
    return int(row[0])


def _like_count_get(*, post_id: int) -> int:
    count = Post.objects.filter(pk=post_id).values_list("like_count", flat=True).first()
    if count is None:
        raise not_found("post")
    return count


def like_set(*, user: User, post_id: int, liked: bool) -> tuple[bool, int]:
    """Like or unlike, idempotently; returns the state and the exact like count. The counter
    moves only when this request's INSERT or DELETE changed a row, in the same transaction."""
    post = post_visible_get(viewer=user, post_id=post_id)
    try:
        with transaction.atomic():
            if liked:
                changed = _insert_ignoring_conflict(Like, user=user, post_id=post_id)
            else:
                deleted, _ = Like.objects.filter(user_id=user.pk, post_id=post_id).delete()
                changed = deleted > 0
            if changed:
                events.emit(events.LikeChanged(user_id=user.pk, post_id=post_id, liked=liked))
                if liked:
                    events.emit(events.PostLiked(user.pk, post_id, post_author_id=post.author_id))
                return liked, _like_count_add(post_id=post_id, delta=1 if liked else -1)
            return liked, _like_count_get(post_id=post_id)
    except IntegrityError:
        # The post was deleted between the visibility check and the insert.
        raise not_found("post") from None


def save_set(*, user: User, post_id: int, saved: bool) -> bool:
    """Save or unsave, idempotently; returns the new state."""
    post_visible_get(viewer=user, post_id=post_id)
    try:
        if saved:
            _insert_ignoring_conflict(Save, user=user, post_id=post_id)
        else:
            Save.objects.filter(user_id=user.pk, post_id=post_id).delete()
    except IntegrityError:
        raise not_found("post") from None
    events.emit(events.SaveChanged(user_id=user.pk, post_id=post_id, saved=saved))
    return saved


def comment_create(*, author: User, post_id: int, text: str) -> Comment:
    """Add a comment and bump ``comment_count`` in the same transaction."""
    text = text.strip()
    if not 1 <= len(text) <= COMMENT_MAX:
        raise bad_request("invalid_comment", f"a comment is 1 to {COMMENT_MAX} characters")
    if not text_storable(text):
        raise bad_request("invalid_text", "comment contains NUL or unpaired surrogates")
    post = post_visible_get(viewer=author, post_id=post_id)
    try:
        with transaction.atomic():
            comment = Comment.objects.create(post_id=post_id, author=author, text=text)
            Post.objects.filter(pk=post_id).update(comment_count=F("comment_count") + 1)
            events.emit(events.PostChanged(post_id=post_id))
            events.emit(
                events.CommentAdded(author.pk, post_id, post.author_id, comment.pk, text=text)
            )
            if mentioned := caption_mentions(text):
                events.emit(
                    events.UserMentioned(
                        author.pk, post_id, post.author_id, tuple(mentioned), text, comment.pk
                    )
                )
    except IntegrityError:
        raise not_found("post") from None
    return comment


def comment_delete(*, user: User | AnonymousUser, post_id: int, comment_id: int) -> None:
    """The comment's author or the post's owner may delete it; others get 403 (or 404 when
    they cannot see the post at all)."""
    post = post_visible_get(viewer=user, post_id=post_id)
    comment = Comment.objects.only("id", "author_id").filter(pk=comment_id, post_id=post_id).first()
    if comment is None:
        raise not_found("comment")
    if user.pk not in (comment.author_id, post.author_id):
        raise ApiError(403, "forbidden", "only the comment's author or the post's owner")
    with transaction.atomic():
        deleted, _ = Comment.objects.filter(pk=comment_id).delete()
        if deleted:
            Post.objects.filter(pk=post_id).update(comment_count=_decrement("comment_count"))
            events.emit(events.PostChanged(post_id=post_id))
