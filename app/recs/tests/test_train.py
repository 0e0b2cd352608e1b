"""Training: a model, a version row and published lists; failures keep the live model."""

from __future__ import annotations

from pathlib import Path

import django_rq
import numpy as np
import pytest

from app.posts.models import Like
from app.recs import serving, train
from app.recs.models import ModelVersion
from app.testing.recs import SMALL, likes_add


def test_it_trains_a_ready_version_with_an_artefact_and_lists(world):
    version = train.recs_train(params=SMALL)

    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY
    assert Path(version.artefact_path).exists()
    assert version.data_stats["users"] == 20
    assert version.data_stats["posts"] == 24
    assert version.data_stats["nnz"] == 120
    assert version.params["factors"] == 8
    assert serving.live_get() == version.pk
    member = world.members[0][0]
    ranked = serving.user_list(version=version.pk, user_id=member.pk)
    liked = set(Like.objects.filter(user=member).values_list("post_id", flat=True))
    assert ranked, "an active user gets a precomputed list"
    assert not liked & set(ranked)


def test_it_ranks_the_users_own_community_first(world):
    version = train.recs_train(params=SMALL)
    hits = []
    for community, members in enumerate(world.members):
        for member in members:
            top = (serving.user_list(version=version.pk, user_id=member.pk) or [])[:3]
            hits += [world.community_of(post_id) == community for post_id in top]
    assert np.mean(hits) > 0.8


def test_it_never_precomputes_own_posts(world):
    author = world.authors[0][0]
    likes_add(author, world.posts[0][4:8])  # the author is now an active user too
    version = train.recs_train(params=SMALL)
    ranked = serving.user_list(version=version.pk, user_id=author.pk)
    assert ranked
    assert not {p.pk for p in world.posts[0][:4]} & set(ranked)


def test_a_failed_training_keeps_the_previous_model(world, monkeypatch):
    good = train.recs_train(params=SMALL)
    member = world.members[1][0]
    before = serving.user_list(version=good.pk, user_id=member.pk)

    def broken(*args, **kwargs):
        raise MemoryError("out of memory half way")

    monkeypatch.setattr(train, "model_fit", broken)
    with pytest.raises(MemoryError):
        train.recs_train(params=SMALL)

    failed = ModelVersion.objects.latest("id")
    assert failed.status == ModelVersion.Status.FAILED
    assert "out of memory" in failed.error
    assert not list(Path(good.artefact_path).parent.glob(f"als-{failed.pk}*"))
    assert serving.live_get() == good.pk
    assert serving.user_list(version=good.pk, user_id=member.pk) == before
    assert serving.version_latest_ready() == good
    loaded = serving.model_current()
    assert loaded is not None and loaded.version == good.pk


def test_a_failure_while_publishing_leaves_no_half_written_lists(world, monkeypatch):
    good = train.recs_train(params=SMALL)
    real = serving.lists_write
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["version"])
        real(**kwargs)
        raise ConnectionError("redis went away")

    monkeypatch.setattr(serving, "lists_write", flaky)
    with pytest.raises(ConnectionError):
        train.recs_train(params=SMALL)
    assert calls and calls[0] != good.pk
    assert serving.user_list(version=calls[0], user_id=world.members[0][0].pk) is None
    assert serving.live_get() == good.pk


def test_if_stale_trains_only_when_the_data_changed(world):
    first = train.recs_train_if_stale()
    assert train.recs_train_if_stale() == first
    likes_add(world.members[0][0], world.posts[1][:1])
    second = train.recs_train_if_stale()
    assert second.pk != first.pk
    assert serving.live_get() == second.pk


def test_if_stale_republishes_when_redis_lost_the_lists(world):
    first = train.recs_train_if_stale()
    serving.connection().delete(serving.live_key())
    again = train.recs_train_if_stale()
    assert again.pk != first.pk
    assert serving.live_get() == again.pk


def test_the_training_job_runs_on_the_queue(world):
    from app.recs.jobs import recs_train_job

    # As the cron (app/recs/cron.py) queues it; the test settings run queues synchronously.
    queue = django_rq.get_queue("training", commit_mode="auto")
    job = queue.enqueue(recs_train_job, job_timeout=3600)
    assert job.origin == "training"
    assert serving.live_get() == job.return_value()
