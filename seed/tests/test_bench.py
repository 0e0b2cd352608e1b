"""python -m seed.bench: the serving benchmarks' bench_* data, deterministic and idempotent."""

from __future__ import annotations

import random

import pytest
from django.db.models import Count

from app.accounts.models import User
from app.posts.models import Post
from seed import bench

pytestmark = pytest.mark.django_db


def test_it_populates_bench_users_with_exact_counters():
    counts = bench.populate(
        rng=random.Random(7),
        users=6,
        posts=12,
        follows_per_user=3,
        max_likes=4,
        comments_per_post=2,
    )
    assert (counts["users"], counts["posts"], counts["images"], counts["comments"]) == (
        6,
        12,
        36,
        24,
    )
    for user in User.objects.filter(username__startswith=bench.PREFIX).annotate(
        followers=Count("follower_edges", distinct=True), authored=Count("posts", distinct=True)
    ):
        assert (user.follower_count, user.post_count) == (user.followers, user.authored)
    for post in Post.objects.annotate(liked=Count("likes", distinct=True)):
        assert post.like_count == post.liked


def test_the_command_refuses_bad_numbers_and_is_idempotent(capsys):
    with pytest.raises(SystemExit) as refused:
        bench.main(["--posts", "0"])
    assert refused.value.code == 2
    assert bench.main(["--posts", "5", "--users", "3"]) == 0
    assert bench.main(["--posts", "5", "--users", "3"]) == 0
    assert "already populated" in capsys.readouterr().out
    assert bench.main(["--posts", "6", "--users", "3"]) == 1
