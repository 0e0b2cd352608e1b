"""Prometheus metrics, correct across worker processes, and the middleware that records them."""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.lab import stats

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

UNMATCHED = "unmatched"
# Anything else would let a client mint label values (and time series) at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def render_metrics() -> tuple[bytes, str]:
    """The exposition text: summed over every worker's files in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


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
        requests, latency, queries = _metrics_for(
            method, route_label(request), str(response.status_code)
        )
        requests.inc()
        latency.observe(elapsed)
        request_stats = stats.current()
        if request_stats is not None:
            queries.observe(request_stats.db_queries)
        return response
