"""Feed test data: posts with images and comments whose stored counters are exact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from app.accounts.models import Follow, User
from app.accounts.tests.factories import UserFactory
from app.posts.models import Comment, Post, PostImage


def user_make(username: str) -> User:
    return UserFactory(username=username)


def follow(follower: User, followee: User) -> None:
    """A follow edge with exact counters, without fan-out (tests of fan-out use services)."""
    Follow.objects.create(follower=follower, followee=followee)
    User.objects.filter(pk=follower.pk).update(following_count=follower.following_count + 1)
    User.objects.filter(pk=followee.pk).update(follower_count=followee.follower_count + 1)
    follower.refresh_from_db()
    followee.refresh_from_db()


def posts_make(author: User, count: int, *, hours_ago: int = 0, comments: int = 2) -> list[Post]:
    """``count`` posts an hour apart, newest first, each with two images and ``comments``
    comments, with comment_count set to match (the naive strategy counts rows)."""
    now = timezone.now() - timedelta(hours=hours_ago)
    posts = Post.objects.bulk_create(
        [
            Post(
                author=author,
                caption=f"#feed post {index} by @{author.username}",
                comment_count=comments,
            )
            for index in range(count)
        ]
    )
    for index, post in enumerate(posts):
        post.created_at = now - timedelta(hours=index)
    Post.objects.bulk_update(posts, ["created_at"])
    PostImage.objects.bulk_create(
        [
            PostImage(
                post=post,
                position=position,
                original=f"o/{post.pk}-{position}.jpg",
                feed=f"f/{post.pk}-{position}.jpg",
                thumb=f"t/{post.pk}-{position}.jpg",
                width=1080,
                height=1350,
            )
            for post in posts
            for position in range(2)
        ]
    )
    commenter = UserFactory()
    Comment.objects.bulk_create(
        [
            Comment(post=post, author=commenter, text=f"comment {index}")
            for post in posts
            for index in range(comments)
        ]
    )
    return posts


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the on-commit effects (fan-out, invalidation) of the writes in the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads made by these tests land in a per-test folder, never in var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
