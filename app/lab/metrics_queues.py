"""The background queues' depth and lag, read from Redis when /metrics is scraped.

The RQ workers run no web server, so nothing they count in memory would reach /metrics. What
the live view needs of them is already in Redis: how many jobs wait, run and failed on each
queue, and when the oldest waiting job was queued. That age is the queue's lag (Sidekiq calls
it "queue latency"): a post published now waits at least this long before its fan-out starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import NamedTuple

import django_rq
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.utils import as_text, utcparse

from app.core import degrade

logger = logging.getLogger(__name__)

JOBS = "instalab_queue_jobs"
LAG = "instalab_queue_lag_seconds"


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    jobs = GaugeMetricFamily(
        JOBS, "Jobs on each RQ queue: queued (waiting), started, failed", labels=["queue", "state"]
    )
    lag = GaugeMetricFamily(
        LAG, "Age of the oldest job waiting on each RQ queue; 0 when none waits", labels=["queue"]
    )
    return jobs, lag


class QueueState(NamedTuple):
    queued: int
    started: int
    failed: int
    lag_seconds: float


def queue_state(queue: Queue) -> QueueState:
    """One pipelined round trip (LLEN, two ZCARDs, the head job's id), then one HGET for that
    job's enqueue time."""
    pipe = queue.connection.pipeline(transaction=False)
    pipe.llen(queue.key)
    pipe.zcard(queue.started_job_registry.key)
    pipe.zcard(queue.failed_job_registry.key)
    pipe.lindex(queue.key, 0)  # RQ pushes on the right and pops on the left: the oldest
    queued, started, failed, head = pipe.execute()
    return QueueState(queued, started, failed, _age(queue.connection, head))


def _age(connection: Redis, head: bytes | None) -> float:
    if head is None:
        return 0.0
    enqueued = connection.hget(Job.key_for(as_text(head)), "enqueued_at")
    if not enqueued:
        return 0.0  # taken by a worker between the two reads
    return max(0.0, time.time() - utcparse(as_text(enqueued)).timestamp())


class QueueCollector(Collector):
    """Every queue of settings.RQ_QUEUES at each scrape. Nothing when Redis is down: a scrape
    must not fail, and an empty panel says as much."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registration asks for the names; without this it would call collect(), at import.
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs, lag = _families()
        if degrade.redis_up():
            try:
                queues = [django_rq.get_queue(name) for name in settings.RQ_QUEUES]
                states = {queue.name: queue_state(queue) for queue in queues}
            except degrade.REDIS_ERRORS as exc:
                degrade.redis_failed(exc)
                logger.warning("queue metrics skipped: %s", type(exc).__name__)
                states = {}
            for name, state in states.items():
                jobs.add_metric([name, "queued"], state.queued)
                jobs.add_metric([name, "started"], state.started)
                jobs.add_metric([name, "failed"], state.failed)
                lag.add_metric([name], state.lag_seconds)
        yield jobs
        yield lag
