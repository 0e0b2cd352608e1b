"""Recommender jobs on the RQ "training" queue (run in-process when settings say so)."""

from __future__ import annotations

import os

# Before numpy loads in a worker that starts with this job.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from typing import Any

import django_rq


def recs_train_job() -> int:
    """Train and publish; returns the new version's id. A failure leaves the live model."""
    from app.recs.train import recs_train

    return recs_train().pk


def recs_train_enqueue() -> Any:
    """Queue a retraining (the nightly cron in app/recs/cron.py does the same)."""
    # "auto": enqueue now, not on commit; training reads committed data on its own connection.
    queue = django_rq.get_queue("training", commit_mode="auto")
    return queue.enqueue(recs_train_job, job_timeout=3600)
