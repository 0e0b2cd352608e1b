"""Search fixtures: posts with hashtags and places attached the way post_create does it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import F

from app.accounts.models import User
from app.posts.models import Hashtag, Place, Post, PostHashtag
from app.posts.tests.factories import HashtagFactory, PostFactory, PostImageFactory
from app.posts.text import caption_hashtags

MakePost = Callable[..., Post]


def post_make(
    *,
    author: User,
    caption: str,
    place: Place | None = None,
    likes: int = 0,
    created_at: datetime | None = None,
) -> Post:
    """A post with its image, hashtag rows and counters, as post_create leaves them."""
    post = PostFactory(author=author, caption=caption, place=place, like_count=likes)
    if created_at is not None:
        Post.objects.filter(pk=post.pk).update(created_at=created_at)
        post.refresh_from_db()
    PostImageFactory(post=post, position=0)
    tags = [HashtagFactory(name=name) for name in caption_hashtags(caption)]
    PostHashtag.objects.bulk_create(
        [PostHashtag(post=post, hashtag=tag, created_at=post.created_at) for tag in tags]
    )
    Hashtag.objects.filter(pk__in=[tag.pk for tag in tags]).update(
        post_count=F("post_count") + 1, last_used_at=post.created_at
    )
    User.objects.filter(pk=author.pk).update(post_count=F("post_count") + 1)
    if place is not None:
        Place.objects.filter(pk=place.pk).update(post_count=F("post_count") + 1)
    return post


def public_count_set(tag: Hashtag, count: int) -> Hashtag:
    """Give a factory hashtag ``count`` public posts without creating them: the count the
    triggers keep from real posts (search migration 0005), which alone is shown."""
    with connection.cursor() as db:
        db.execute("UPDATE posts_hashtag SET public_post_count = %s WHERE id = %s", [count, tag.pk])
    return tag


@pytest.fixture
def make_post(db: None) -> MakePost:
    def make(author: User, caption: str, **kwargs: Any) -> Post:
        return post_make(author=author, caption=caption, **kwargs)

    return make
