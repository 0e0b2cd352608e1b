"""Prometheus metrics, correct across worker processes, and the middleware that records them."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

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
    route = _CONVERTER.sub(r"{\1}", _NAMED_GROUP.sub(r"{\1}", match.route))
    return route.removeprefix("^").removesuffix("$")


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
        route = route_label(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
        LATENCY.labels(route=route).observe(elapsed)
        request_stats = stats.current()
        if request_stats is not None:
            DB_QUERIES.labels(route=route).observe(request_stats.db_queries)
        return response
