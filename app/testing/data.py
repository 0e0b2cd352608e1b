"""Test data as the services leave it: follows and posts whose stored counters are exact, so
every strategy (the naive ones count rows, the others read the counters) sees the same."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from app.accounts import services as accounts
from app.accounts.models import Follow, User
from app.posts.models import Comment, Hashtag, Place, Post, PostHashtag, PostImage
from app.posts.text import caption_hashtags
from app.testing.factories import HashtagFactory, PostFactory, PostImageFactory, UserFactory


def user_make(username: str) -> User:
    """A user named ``username`` (the same one again if it exists)."""
    return UserFactory(username=username)


def follow(follower: User, followee: User) -> None:
    """A follow edge with exact counters, without fan-out (tests of fan-out use services)."""
    Follow.objects.create(follower=follower, followee=followee)
    User.objects.filter(pk=follower.pk).update(following_count=follower.following_count + 1)
    User.objects.filter(pk=followee.pk).update(follower_count=followee.follower_count + 1)
    follower.refresh_from_db()
    followee.refresh_from_db()


def reader_of_two(prefix: str = "") -> User:
    """A user, ``<prefix>reader``, who follows two authors (``<prefix>ann``, ``<prefix>ben``)
    of three captioned posts each, through the follow service (fan-out included): a small
    world whose warm feed request does the same work every time (benchmarks/calls.py)."""
    reader = User.objects.create_user(username=f"{prefix}reader", password="x")
    for name in ("ann", "ben"):
        author = User.objects.create_user(username=f"{prefix}{name}", password="x")
        accounts.follow_create(follower=reader, followee=author)
        for index in range(3):
            Post.objects.create(author=author, caption=f"{name} {index}")
    return reader


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
