"""Feed maintenance on writes: fan-out, timeline and flag updates, fragment invalidation.

Posts and accounts emit domain events (app/core/events.py) inside their transactions, and
:func:`subscribe_all` hands each to the function here that keeps the feed in step. Every
effect runs on commit, so a rolled-back write never touches Redis. Slow work (one key per
follower) goes to the "fanout" queue; cheap single-key updates run right after the commit.
Each effect is a named outbox effect (app/core/outbox.py): when Redis cannot take it, it
waits in PostgreSQL and is replayed, so a committed write never fails for it and no cache
misses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_rq
from django.core.cache import cache

from app.core import events, outbox
from app.feed import jobs
from app.posts import viewcache

# Finished jobs keep nothing in Redis; failures stay a day for `rqinfo` and the admin.
_JOB_OPTIONS = {"result_ttl": 0, "failure_ttl": 24 * 3600}


def _enqueue(job: Callable[..., Any], **kwargs: Any) -> None:
    # Callers already run on commit, so the queue must not defer again ("auto").
    queue = django_rq.get_queue("fanout", commit_mode="auto")
    queue.enqueue(job, kwargs=kwargs, **_JOB_OPTIONS)


def _fragment_drop(post_id: int) -> None:
    cache.delete(viewcache.fragment_key(post_id))


@outbox.effect("feed.post_created")
def _post_created(*, post_id: int) -> None:
    _enqueue(jobs.fanout_post, post_id=post_id)


@outbox.effect("feed.post_deleted")
def _post_deleted(*, post_id: int, author_id: int) -> None:
    _fragment_drop(post_id)
    _enqueue(jobs.fanout_post_removed, post_id=post_id, author_id=author_id)


@outbox.effect("feed.post_changed")
def _post_changed(*, post_id: int) -> None:
    _fragment_drop(post_id)


@outbox.effect("feed.flag_set")
def _flag_set(*, user_id: int, post_id: int, kind: str, value: bool) -> None:
    conn = viewcache.connection()
    key = viewcache.flags_key(user_id)
    with conn.pipeline(transaction=False) as pipe:
        # HSET, not HSETNX: the committed write is the truth over any reader's fill.
        pipe.hset(key, f"{kind}{post_id}", int(value))
        pipe.expire(key, viewcache.ttl())
        pipe.execute()


@outbox.effect("feed.like_changed")
def _like_changed(*, user_id: int, post_id: int, liked: bool) -> None:
    _flag_set(user_id=user_id, post_id=post_id, kind="l", value=liked)
    _fragment_drop(post_id)


@outbox.effect("feed.follow_created")
def _follow_created(*, follower_id: int, followee_id: int) -> None:
    # The following set first (reads then merge the author, if pulled), then the backfill.
    viewcache.sadd_if_exists(
        viewcache.connection(), viewcache.following_key(follower_id), followee_id
    )
    _enqueue(jobs.timeline_backfill, follower_id=follower_id, followee_id=followee_id)


@outbox.effect("feed.follow_deleted")
def _follow_deleted(*, follower_id: int, followee_id: int) -> None:
    # Reads skip the author from now on; the job then frees the timeline entries.
    viewcache.connection().srem(viewcache.following_key(follower_id), str(followee_id))
    _enqueue(jobs.timeline_unmerge, follower_id=follower_id, followee_id=followee_id)


@outbox.effect("feed.author_changed")
def _author_changed(*, author_id: int) -> None:
    _enqueue(jobs.fragments_drop_author, author_id=author_id)


def feed_post_created(*, post_id: int) -> None:
    outbox.after_commit("feed.post_created", post_id=post_id)


def feed_post_deleted(*, post_id: int, author_id: int) -> None:
    outbox.after_commit("feed.post_deleted", post_id=post_id, author_id=author_id)


def feed_post_changed(*, post_id: int) -> None:
    """A counter, the comment preview or the caption changed: the shared body goes."""
    outbox.after_commit("feed.post_changed", post_id=post_id)


def feed_like_changed(*, user_id: int, post_id: int, liked: bool) -> None:
    outbox.after_commit("feed.like_changed", user_id=user_id, post_id=post_id, liked=liked)


def feed_save_changed(*, user_id: int, post_id: int, saved: bool) -> None:
    outbox.after_commit("feed.flag_set", user_id=user_id, post_id=post_id, kind="s", value=saved)


def feed_follow_created(*, follower_id: int, followee_id: int) -> None:
    outbox.after_commit("feed.follow_created", follower_id=follower_id, followee_id=followee_id)


def feed_follow_deleted(*, follower_id: int, followee_id: int) -> None:
    outbox.after_commit("feed.follow_deleted", follower_id=follower_id, followee_id=followee_id)


def feed_author_changed(*, author_id: int) -> None:
    """Name or privacy changed. Timelines need nothing: they only ever hold posts of
    accounts the owner follows, and a follower stays a follower when an account turns
    private. Only the cached post bodies, which embed the author summary, go stale."""
    outbox.after_commit("feed.author_changed", author_id=author_id)


def subscribe_all() -> None:
    """Keep the feed in step with the writes of posts and accounts (FeedConfig.ready)."""
    events.subscribe(events.PostCreated, lambda e: feed_post_created(post_id=e.post_id))
    events.subscribe(
        events.PostDeleted, lambda e: feed_post_deleted(post_id=e.post_id, author_id=e.author_id)
    )
    events.subscribe(events.PostChanged, lambda e: feed_post_changed(post_id=e.post_id))
    events.subscribe(
        events.LikeChanged,
        lambda e: feed_like_changed(user_id=e.user_id, post_id=e.post_id, liked=e.liked),
    )
    events.subscribe(
        events.SaveChanged,
        lambda e: feed_save_changed(user_id=e.user_id, post_id=e.post_id, saved=e.saved),
    )
    events.subscribe(
        events.UserFollowed,
        lambda e: feed_follow_created(follower_id=e.follower_id, followee_id=e.followee_id),
    )
    events.subscribe(
        events.FollowDeleted,
        lambda e: feed_follow_deleted(follower_id=e.follower_id, followee_id=e.followee_id),
    )
    events.subscribe(events.AuthorChanged, lambda e: feed_author_changed(author_id=e.author_id))
