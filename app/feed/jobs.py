"""Fan-out jobs on the RQ "fanout" queue (run in-process when settings make it synchronous)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.core.cache import cache

from app.core import realtime
from app.feed import selectors, store
from app.posts import viewcache

# Timelines per Lua call: bounds the time Redis spends in one script.
BATCH = 500


def batched(items: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _is_pulled(conn: Any, author_id: int, followers: int) -> bool:
    """Celebrities are pulled at read time. Once pulled, always pulled (until Redis forgets),
    so an author hovering around the threshold never flips between the two paths."""
    if followers > store.fanout_threshold():
        conn.sadd(store.celebs_key(), author_id)
        return True
    return bool(conn.sismember(store.celebs_key(), author_id))


def fanout_post(*, post_id: int) -> int:
    """Push a new post into the author's and their followers' existing timelines; for an
    author above the threshold only into their pulled list. Returns the sets written.

    Each follower whose timeline took the post is told on their open sockets (a
    ``feed.post`` frame; the home page offers "New posts"), one pipeline of PUBLISHes per
    batch. A follower without a timeline has not read the feed for days (or Redis evicted
    it), and a pulled author's followers are never listed here at all: their posts show on
    the next page load, not live. Telling a pulled author's audience would mean a publish
    per follower, online or not, which is the very cost pulling exists to avoid.
    """
    found = selectors.post_for_fanout(post_id=post_id)
    if found is None:
        return 0  # deleted before the job ran
    author_id, username, created_at, followers = found
    conn = viewcache.connection()
    rows = [(post_id, created_at)]
    own = [store.timeline_key(author_id), store.author_key(author_id)]
    written = len(store.add_if_exists(conn, own, rows))
    if _is_pulled(conn, author_id, followers):
        return written
    frame = {"type": "feed.post", "post": post_id, "author": username}
    ids = selectors.follower_ids(author_id=author_id).iterator(chunk_size=2000)
    for chunk in batched(ids, BATCH):
        keys = [store.timeline_key(follower) for follower in chunk]
        took = store.add_if_exists(conn, keys, rows)
        if took:
            # The job runs after the post committed, outside a transaction: delivered at once.
            realtime.publish_on_commit([(chunk[position], frame) for position in took])
        written += len(took)
    return written


def fanout_post_removed(*, post_id: int, author_id: int) -> None:
    """Take a deleted post out of every timeline that may hold it (readers also drop it
    lazily, so this only frees memory early)."""
    conn = viewcache.connection()
    store.remove(conn, [store.timeline_key(author_id), store.author_key(author_id)], [post_id])
    ids = selectors.follower_ids(author_id=author_id).iterator(chunk_size=2000)
    for chunk in batched(ids, BATCH):
        store.remove(conn, [store.timeline_key(follower) for follower in chunk], [post_id])


def timeline_backfill(*, follower_id: int, followee_id: int) -> int:
    """After a follow: the new author's recent posts join the follower's timeline (unless
    the author is pulled, or the follower has no timeline to keep warm)."""
    conn = viewcache.connection()
    timeline = store.timeline_key(follower_id)
    if not conn.exists(timeline):
        return 0
    followers = selectors.followee_follower_count(follower_id=follower_id, followee_id=followee_id)
    if followers is None or _is_pulled(conn, followee_id, followers):
        return 0  # unfollowed again before the job ran, or pulled at read time
    rows = selectors.author_post_keys(author_id=followee_id, limit=store.timeline_cap())
    return len(store.add_if_exists(conn, [timeline], rows))


def timeline_unmerge(*, follower_id: int, followee_id: int) -> None:
    """After an unfollow: the author's posts leave the follower's timeline (reads already
    skip them, since the following set changed on commit)."""
    rows = selectors.author_post_keys(author_id=followee_id, limit=store.timeline_cap())
    store.remove(
        viewcache.connection(), [store.timeline_key(follower_id)], [post_id for post_id, _ in rows]
    )


def fragments_drop_author(*, author_id: int) -> None:
    """An author's name or privacy changed: every cached body that embeds them goes."""
    ids = selectors.author_post_ids(author_id=author_id).iterator(chunk_size=2000)
    for chunk in batched(ids, 1000):
        cache.delete_many([viewcache.fragment_key(post_id) for post_id in chunk])
