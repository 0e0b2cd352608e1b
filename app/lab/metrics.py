"""Prometheus metrics, correct across worker processes, and the middlewares that record them:
HTTP (requests, latency, SQL and cache reads per request), WebSockets (sockets, messages) and,
read at scrape time, the background queues (app/lab/metrics_queues.py)."""

from __future__ import annotations

import functools
import glob
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.lab import stats
from app.lab.metrics_queues import QueueCollector

# prometheus-client picks its value store when it is imported: with PROMETHEUS_MULTIPROC_DIR
# set (the server runner sets it for its workers) every process writes mmap files there and
# render_metrics() sums them, so a scrape sees the whole server, not one worker.
REQUESTS = Counter("instalab_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "instalab_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DB_QUERIES = Histogram(
    "instalab_http_db_queries",
    "SQL statements per HTTP request",
    ["route"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89),
)
CACHE_READS = Counter(
    "instalab_cache_reads_total",
    "Cache reads made by HTTP requests (Django cache and raw Redis), by result",
    ["route", "result"],
)
DB_READS = Counter(
    "instalab_db_reads_total",
    "SQL reads (SELECT, WITH) made by HTTP requests, by the database that answered",
    ["database"],
)
_READS_PRIMARY = DB_READS.labels(database="primary")
_READS_REPLICA = DB_READS.labels(database="replica")
WS_CONNECTIONS = Counter("instalab_ws_connections_total", "WebSocket handshakes accepted")
# "livesum": the open sockets of the processes alive now; a dead worker's files are dropped
# at the next scrape (_forget_dead_processes), so its sockets stop counting.
WS_OPEN = Gauge(
    "instalab_ws_sockets_open", "WebSocket sockets open now", multiprocess_mode="livesum"
)
WS_MESSAGES = Counter(
    "instalab_ws_messages_total",
    "WebSocket messages: in from clients, out to clients (frames relayed included)",
    ["direction"],
)
QUEUES = QueueCollector()
REGISTRY.register(QUEUES)

UNMATCHED = "unmatched"
# Anything else would let a client mint label values (and time series) at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def render_metrics() -> tuple[bytes, str]:
    """The exposition text: summed over every worker's files in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _forget_dead_processes(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(QUEUES)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db$")


def _forget_dead_processes(path: str) -> None:
    """Drop the live gauges of processes that are gone (a killed or replaced server worker):
    prometheus-client keeps a dead pid's files until told, and its open sockets would count
    forever. Servers share this host's pid namespace with the scraping worker."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.search(name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


@functools.lru_cache(maxsize=1024)
def _route_of(pattern: str) -> str:
    """The label of a URL pattern, ``api/posts/<int:post_id>`` -> ``api/posts/{post_id}``;
    patterns are few, so each is converted once."""
    route = _CONVERTER.sub(r"{\1}", _NAMED_GROUP.sub(r"{\1}", pattern))
    return route.removeprefix("^").removesuffix("$")


def route_label(request: HttpRequest) -> str:
    """The URL pattern that served the request ("api/posts/{post_id}"), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        # A middleware answered before URL resolution (a 400 from the strategy switch, say):
        # resolve here so the request is still counted under its route.
        try:
            match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    if not match.route:
        return UNMATCHED
    return _route_of(match.route)


# The labelled children, looked up once per label set: ``labels()`` validates and locks on
# every call, a few microseconds each, three times per request.
_children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}


def _metrics_for(method: str, route: str, status: str) -> tuple[Any, Any, Any]:
    found = _children.get((method, route, status))
    if found is None:
        found = _children[method, route, status] = (
            REQUESTS.labels(method=method, route=route, status=status),
            LATENCY.labels(route=route),
            DB_QUERIES.labels(route=route),
        )
    return found


_cache_children: dict[str, tuple[Any, Any]] = {}


def _cache_reads_for(route: str) -> tuple[Any, Any]:
    found = _cache_children.get(route)
    if found is None:
        found = _cache_children[route] = (
            CACHE_READS.labels(route=route, result="hit"),
            CACHE_READS.labels(route=route, result="miss"),
        )
    return found


def request_count(*, method: str, route: str, status: int, seconds: float) -> None:
    """Count a request answered before Django's middleware ran (app/wsgi.py)."""
    requests, latency, _ = _metrics_for(method, route, str(status))
    requests.inc()
    latency.observe(seconds)


class MetricsMiddleware:
    """Counts requests by method, route and status; times them; histograms their SQL count.

    Sits just inside ServerTimingMiddleware, whose per-request stats hold the query count.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        method = request.method if request.method in METHODS else "other"
        route = route_label(request)
        requests, latency, queries = _metrics_for(method, route, str(response.status_code))
        requests.inc()
        latency.observe(elapsed)
        request_stats = stats.current()
        if request_stats is not None:
            queries.observe(request_stats.db_queries)
            if request_stats.db_reads:
                replica = request_stats.replica_queries
                _READS_PRIMARY.inc(request_stats.db_reads - replica)
                if replica:
                    _READS_REPLICA.inc(replica)
            if request_stats.cache_hits or request_stats.cache_misses:
                hits, misses = _cache_reads_for(route)
                hits.inc(request_stats.cache_hits)
                misses.inc(request_stats.cache_misses)
        return response


ASGIMessage = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[ASGIMessage]]
ASGISend = Callable[[ASGIMessage], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], ASGIReceive, ASGISend], Awaitable[None]]

_MESSAGES_IN = WS_MESSAGES.labels(direction="in")
_MESSAGES_OUT = WS_MESSAGES.labels(direction="out")


class SocketMetrics:
    """ASGI middleware around the /ws/ application: counts accepted sockets, the sockets open
    and the messages each way, from the ASGI events themselves (so every consumer is counted
    without knowing of it). One counter increment per message: 2.5 to 3 us in multiprocess
    mode (docs/monitoring.md), against the 2.1 ms of CPU a relayed message costs
    (docs/experiments/chat.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        accepted = False

        async def counted_receive() -> ASGIMessage:
            message = await receive()
            if message["type"] == "websocket.receive":
                _MESSAGES_IN.inc()
            return message

        async def counted_send(message: ASGIMessage) -> None:
            nonlocal accepted
            await send(message)
            if message["type"] == "websocket.send":
                _MESSAGES_OUT.inc()
            elif message["type"] == "websocket.accept" and not accepted:
                accepted = True
                WS_CONNECTIONS.inc()
                WS_OPEN.inc()

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            if accepted:
                WS_OPEN.dec()
