"""Recommender test helpers: a small fast model, likes with exact counters, published lists."""

from __future__ import annotations

from app.accounts.models import User
from app.posts.models import Like, Post
from app.recs import serving, train

# A model sized for 20 users and 24 posts, fast and stable (the defaults suit `small`).
SMALL = train.Params(factors=8, iterations=5, regularization=0.05, scaling="bm25", alpha=1.0)
# The version test lists are published under, far from any a test trains.
VERSION = 9000


def likes_add(user: User, posts: list[Post]) -> None:
    """``user`` likes ``posts``, each post's like_count moved to match."""
    Like.objects.bulk_create([Like(user=user, post=post) for post in posts])
    for post in posts:
        Post.objects.filter(pk=post.pk).update(like_count=post.like_count + 1)


def list_publish(user: User, post_ids: list[int]) -> None:
    """A precomputed list for ``user`` under a live version, as training writes it."""
    serving.lists_write(version=VERSION, user_ids=[user.pk], lists=[post_ids])
    serving.connection().set(serving.live_key(), VERSION)
