"""The retraining schedule, for RQ's cron scheduler: `rq cron app.recs.cron`.

Nightly by default (RECS_RETRAIN_CRON): the interaction graph moves slowly, and new users are
served by fold-in until the next run (docs/experiments/recs.md has the costs).
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
django.setup()

from django.conf import settings  # noqa: E402
from rq import cron  # noqa: E402

from app.recs.jobs import recs_train_job  # noqa: E402

cron.register(
    recs_train_job,
    queue_name="training",
    cron=settings.RECS_RETRAIN_CRON,
    job_timeout=3600,
)
