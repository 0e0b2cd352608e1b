"""The live view's metrics: cache reads per route, WebSocket sockets and messages, and the
background queues' depth and lag, each counted where it happens and read from /metrics.
Served across processes by the runner: ops/tests/test_runner.py."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django_rq
import pytest
from django.conf import settings
from django.test import Client
from prometheus_client import REGISTRY
from rq import Queue

from app.lab.metrics import SocketMetrics, render_metrics
from app.lab.metrics_queues import queue_state
from app.lab.testing import sample, scrape


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_it_counts_each_requests_cache_reads_as_its_server_timing_says(client: Client) -> None:
    route = "api/search/trending"
    before = [value("instalab_cache_reads_total", route=route, result=r) for r in ("hit", "miss")]
    timings = [client.get(f"/{route}").headers["Server-Timing"] for _ in range(2)]
    after = [value("instalab_cache_reads_total", route=route, result=r) for r in ("hit", "miss")]
    said = [re.search(r'cache;desc="(\d+) hit (\d+) miss"', t) for t in timings]
    hits = sum(int(match.group(1)) for match in said if match)
    misses = sum(int(match.group(2)) for match in said if match)
    assert hits + misses >= 2
    assert [after[0] - before[0], after[1] - before[1]] == [hits, misses]


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    """A socket that echoes one message twice, as a consumer would relay frames."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    message = await receive()
    assert value("instalab_ws_sockets_open") == 1
    for _ in range(2):
        await send({"type": "websocket.send", "text": message["text"]})
    assert (await receive())["type"] == "websocket.disconnect"


async def _refuse(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.close", "code": 403})


async def _crash(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    raise RuntimeError("consumer bug")


def run_socket(app: Any, incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    inbox = iter(incoming)

    async def receive() -> dict[str, Any]:
        return next(inbox)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(SocketMetrics(app)({"type": "websocket"}, receive, send))
    return sent


def test_it_counts_sockets_and_messages_from_the_asgi_events() -> None:
    names = ("instalab_ws_connections_total", "instalab_ws_sockets_open")
    before = [value(name) for name in names]
    out = value("instalab_ws_messages_total", direction="out")
    into = value("instalab_ws_messages_total", direction="in")
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hi"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent = run_socket(_echo, incoming)
    assert [message["type"] for message in sent] == ["websocket.accept"] + ["websocket.send"] * 2
    assert [value(name) - was for name, was in zip(names, before, strict=True)] == [1, 0]
    assert value("instalab_ws_messages_total", direction="out") - out == 2
    assert value("instalab_ws_messages_total", direction="in") - into == 1
    # A refused handshake is no socket; one whose consumer crashes is closed all the same.
    run_socket(_refuse, [{"type": "websocket.connect"}])
    with pytest.raises(RuntimeError):
        run_socket(_crash, [{"type": "websocket.connect"}])
    assert [value(name) - was for name, was in zip(names, before, strict=True)] == [2, 0]


DEAD_WORKER = """
from app.lab.metrics import WS_OPEN
WS_OPEN.inc(3)
"""


def test_it_forgets_the_open_sockets_of_a_process_that_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-c", DEAD_WORKER], env=env, cwd=settings.BASE_DIR, check=True, timeout=60
    )
    assert list(tmp_path.glob("gauge_livesum_*.db"))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = render_metrics()[0].decode()
    assert sample(text, "instalab_ws_sockets_open") == 0
    assert not list(tmp_path.glob("gauge_livesum_*.db"))


@pytest.fixture
def private_queue() -> Iterator[Queue]:
    """A queue of its own on the app's RQ Redis: no worker of anyone's takes its jobs."""
    queue = Queue(f"lab-test-{uuid.uuid4().hex}", connection=django_rq.get_connection("fanout"))
    try:
        yield queue
    finally:
        queue.delete(delete_jobs=True)


def test_it_reads_queue_depth_and_the_oldest_jobs_age(private_queue: Queue) -> None:
    assert queue_state(private_queue) == (0, 0, 0, 0.0)
    for _ in range(2):
        job = private_queue.enqueue("time.sleep", 0)
    oldest = private_queue.jobs[0]
    oldest.enqueued_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=30)
    oldest.save()
    state = queue_state(private_queue)
    assert (state.queued, state.started, state.failed) == (2, 0, 0)
    assert 30 <= state.lag_seconds < 60
    private_queue.remove(oldest)
    assert queue_state(private_queue).lag_seconds < 30
    assert job.id == private_queue.job_ids[0]


@pytest.mark.django_db
def test_it_serves_every_queue_of_the_settings(client: Client) -> None:
    text = scrape(client)
    for name in settings.RQ_QUEUES:
        assert f'instalab_queue_lag_seconds{{queue="{name}"}}' in text
        for state in ("queued", "started", "failed"):
            assert f'instalab_queue_jobs{{queue="{name}",state="{state}"}}' in text
