"""The viewer's following set in Redis, for every visibility check made without SQL."""

from __future__ import annotations

from typing import Any

from app.accounts.models import Follow
from app.feed import selectors, store


def following_fill(conn: Any, *, user_id: int) -> None:
    """Build ``user_id``'s following set from SQL (one query), as the cached feed does.

    The set is marked building before the SQL snapshot is read, so that a follow committed
    meanwhile (``sadd_if_exists`` on commit) lands in it instead of being lost.
    """
    key = store.following_key(user_id)
    with conn.pipeline(transaction=False) as pipe:
        store.set_begin(pipe, key)
        pipe.execute()
    followed = [followee for followee, _ in selectors.following_with_counts(user_id=user_id)]
    with conn.pipeline(transaction=False) as pipe:
        store.set_finish(pipe, key, followed)
        pipe.execute()


def follows(conn: Any, *, user_id: int, author_id: int) -> bool:
    """Does ``user_id`` follow ``author_id``? From the following set, built when missing."""
    key = store.following_key(user_id)
    for attempt in range(2):
        with conn.pipeline(transaction=False) as pipe:
            pipe.sismember(key, store.SET_COMPLETE)
            pipe.sismember(key, str(author_id))
            pipe.expire(key, store.ttl())
            complete, member, _ = pipe.execute()
        if complete:
            return bool(member)
        if attempt == 0:
            following_fill(conn, user_id=user_id)
    # Redis dropped the set as soon as it was built: SQL, the truth, answers instead.
    return Follow.objects.filter(follower_id=user_id, followee_id=author_id).exists()
