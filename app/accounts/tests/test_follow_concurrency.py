"""Counters stay exact when follows race in real, parallel transactions."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from app.accounts import services
from app.accounts.models import Follow, FollowRequest, User
from app.testing.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def race(jobs: list[Callable[[], object]]) -> list[object]:
    """Run every job in its own thread and DB connection, released together by a barrier."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except Exception as exc:  # reported by the test, not swallowed by the thread
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return results


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_parallel_follows_of_one_target_count_every_follower_once():
    target = UserFactory(username="celebrity")
    fans = UserFactory.create_batch(THREADS)

    race(
        [
            lambda fan=fan: services.follow_create(follower=fresh(fan), followee=fresh(target))
            for fan in fans
        ]
    )

    assert fresh(target).follower_count == THREADS == Follow.objects.count()
    assert all(fresh(fan).following_count == 1 for fan in fans)


def test_the_same_follow_sent_in_parallel_counts_once():
    target = UserFactory(username="celebrity")
    fan = UserFactory(username="eager")

    results = race(
        [lambda: services.follow_create(follower=fresh(fan), followee=fresh(target))] * THREADS
    )

    assert results == ["following"] * THREADS
    assert Follow.objects.count() == 1
    assert (fresh(target).follower_count, fresh(fan).following_count) == (1, 1)


def test_the_same_unfollow_sent_in_parallel_counts_once():
    target = UserFactory(username="celebrity")
    fan = UserFactory(username="eager")
    services.follow_create(follower=fan, followee=target)

    race([lambda: services.follow_delete(follower=fresh(fan), followee=fresh(target))] * THREADS)

    assert Follow.objects.count() == 0
    assert (fresh(target).follower_count, fresh(fan).following_count) == (0, 0)


def test_mutual_follows_in_parallel_do_not_deadlock():
    """a->b and b->a lock the same two user rows; id order keeps them from deadlocking."""
    pairs = [UserFactory.create_batch(2) for _ in range(THREADS // 2)]
    jobs: list[Callable[[], object]] = []
    for a, b in pairs:
        jobs.append(lambda a=a, b=b: services.follow_create(follower=fresh(a), followee=fresh(b)))
        jobs.append(lambda a=a, b=b: services.follow_create(follower=fresh(b), followee=fresh(a)))

    race(jobs)

    for a, b in pairs:
        for user in (fresh(a), fresh(b)):
            assert (user.follower_count, user.following_count) == (1, 1)


def test_a_request_approved_while_repeated_counts_once():
    owner = UserFactory(username="private", is_private=True)
    fan = UserFactory(username="eager")
    FollowRequest.objects.create(requester=fan, target=owner)

    jobs: list[Callable[[], object]] = [
        lambda: services.follow_request_approve(owner=fresh(owner), requester=fresh(fan))
    ]
    jobs += [lambda: services.follow_create(follower=fresh(fan), followee=fresh(owner))] * (
        THREADS - 1
    )

    results = race(jobs)

    assert len(results) == THREADS
    assert Follow.objects.count() == 1
    assert (fresh(owner).follower_count, fresh(fan).following_count) == (1, 1)
