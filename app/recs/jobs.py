"""Recommender jobs on the RQ "training" queue (run in-process when settings say so)."""

from __future__ import annotations


def recs_train_job() -> int:
    """Train and publish; returns the new version's id. A failure leaves the live model."""
    from app.recs.train import recs_train

    return recs_train().pk
