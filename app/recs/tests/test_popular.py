"""`popular`: time-decayed engagement, cached, one recomputation under a stampede."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from django.db.models import F

from app.lab.testing import assert_queries
from app.posts.models import Post
from app.recs import serving
from app.recs.data import popular_compute
from app.testing.data import posts_make
from app.testing.factories import UserFactory


def test_it_recomputes_once_when_many_readers_miss_together():
    calls = []
    barrier = threading.Barrier(8)
    results: list[bytes] = []

    def compute() -> bytes:
        calls.append(1)
        time.sleep(0.3)  # a slow query: everyone else arrives meanwhile
        return b"popular"

    def reader() -> None:
        barrier.wait()
        results.append(serving.cached_with_lock("testh10:stampede", compute, fresh=60, keep=600))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    serving.connection().delete("testh10:stampede")

    assert len(calls) == 1
    assert results == [b"popular"] * 8


def test_stale_values_are_served_while_one_reader_refreshes():
    conn = serving.connection()
    key = "testh10:stale"
    past = int(time.time() - 1).to_bytes(8, "big")
    conn.set(key, past + b"old", ex=60)
    conn.set(f"{key}:lock", "someone else", px=5000)  # a refresh is already running
    try:
        value = serving.cached_with_lock(key, lambda: b"new", fresh=60, keep=600)
        assert value == b"old"
        conn.delete(f"{key}:lock")
        assert serving.cached_with_lock(key, lambda: b"new", fresh=60, keep=600) == b"new"
        assert serving.cached_with_lock(key, lambda: b"newer", fresh=60, keep=600) == b"new"
    finally:
        conn.delete(key, f"{key}:lock")


def test_popular_ranks_engagement_decayed_by_age(alice, charlie):
    fresh = posts_make(charlie, 1, comments=0)[0]
    old_hit = posts_make(charlie, 1, hours_ago=24 * 6, comments=0)[0]
    middling = posts_make(UserFactory(), 1, hours_ago=2, comments=0)[0]
    private = posts_make(alice, 1, comments=0)[0]
    Post.objects.filter(pk=old_hit.pk).update(like_count=40)  # 6 days: e^-2 x 41 ~ 5.5
    Post.objects.filter(pk=middling.pk).update(like_count=10, comment_count=1)  # ~13
    Post.objects.filter(pk=private.pk).update(like_count=1000)
    ranked = popular_compute(limit=10)
    assert ranked == [middling.pk, old_hit.pk, fresh.pk]


def test_popular_is_cached_between_requests(charlie):
    posts_make(charlie, 3, comments=0)
    # 1. the ranking query, once
    with assert_queries(1):
        first = serving.popular_ids()
        second = serving.popular_ids()
    assert first == second and len(first) == 3


def test_popular_counts_age_from_the_newest_post(charlie):
    """An old seed (nothing posted this week) still has a popular list."""
    posts = posts_make(charlie, 2, comments=0)
    Post.objects.update(created_at=F("created_at") - timedelta(days=365))
    assert popular_compute(limit=10) == [p.pk for p in posts]
