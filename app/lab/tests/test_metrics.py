"""/metrics: per-route request counters, latency and SQL histograms, summed across workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from app.lab.metrics import render_metrics
from app.lab.testing import sample, scrape

pytestmark = pytest.mark.django_db


def test_it_counts_requests_by_method_route_and_status(client: Client) -> None:
    series = {"method": "GET", "route": "lab/hello", "status": "200"}
    before = sample(scrape(client), "instalab_http_requests_total", **series)
    for _ in range(3):
        assert client.get("/lab/hello").status_code == 200
    after = sample(scrape(client), "instalab_http_requests_total", **series)
    assert after - before == 3


def test_it_labels_by_route_pattern_not_raw_path(client: Client) -> None:
    route = "api/users/{username}"
    series = {"method": "GET", "route": route, "status": "404"}
    before = sample(scrape(client), "instalab_http_requests_total", **series)
    client.get("/api/users/nobody-one")
    client.get("/api/users/nobody-two")
    text = scrape(client)
    assert sample(text, "instalab_http_requests_total", **series) - before == 2
    assert "nobody-one" not in text


def test_it_counts_unresolved_paths_as_unmatched(client: Client) -> None:
    series = {"method": "GET", "route": "unmatched", "status": "404"}
    before = sample(scrape(client), "instalab_http_requests_total", **series)
    client.get("/api/no/such/thing/9f1c")
    text = scrape(client)
    assert sample(text, "instalab_http_requests_total", **series) - before == 1
    assert "9f1c" not in text


def test_it_labels_requests_a_middleware_answered_by_their_route(client: Client) -> None:
    series = {"method": "GET", "route": "lab/hello", "status": "400"}
    before = sample(scrape(client), "instalab_http_requests_total", **series)
    assert client.get("/lab/hello", HTTP_X_LAB_STRATEGY="feed=turbo").status_code == 400
    assert sample(scrape(client), "instalab_http_requests_total", **series) - before == 1


def test_it_folds_unknown_methods_into_other(client: Client) -> None:
    series = {"method": "other", "route": "lab/hello", "status": "200"}
    before = sample(scrape(client), "instalab_http_requests_total", **series)
    client.generic("BREW", "/lab/hello")
    assert sample(scrape(client), "instalab_http_requests_total", **series) - before == 1


def test_it_observes_latency_and_sql_count_per_request(client: Client) -> None:
    before = scrape(client)
    client.get("/api/users/nobody")  # exactly one SQL statement: the username lookup
    after = scrape(client)
    route = {"route": "api/users/{username}"}
    latency_count = "instalab_http_request_seconds_count"
    assert sample(after, latency_count, **route) - sample(before, latency_count, **route) == 1
    queries_sum = "instalab_http_db_queries_sum"
    assert sample(after, queries_sum, **route) - sample(before, queries_sum, **route) == 1
    # The observation of 1 query lands in the le=1 bucket and not in le=0.
    bucket = "instalab_http_db_queries_bucket"
    for le, grew in (("0.0", 0), ("1.0", 1)):
        delta = sample(after, bucket, le=le, **route) - sample(before, bucket, le=le, **route)
        assert delta == grew, le


WORKER = """
from app.lab.metrics import LATENCY, REQUESTS
REQUESTS.labels(method="GET", route="lab/hello", status="200").inc()
LATENCY.labels(route="lab/hello").observe(0.003)
"""


def test_it_sums_counters_across_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        # Each worker is a separate interpreter, as under gunicorn or granian.
        subprocess.run(
            [sys.executable, "-c", WORKER], env=env, cwd=settings.BASE_DIR, check=True, timeout=60
        )
    assert len(list(tmp_path.glob("*.db"))) >= 2  # one file per worker pid

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body, content_type = render_metrics()
    text = body.decode()
    assert content_type.startswith("text/plain")
    series = {"method": "GET", "route": "lab/hello", "status": "200"}
    assert sample(text, "instalab_http_requests_total", **series) == 2
    assert sample(text, "instalab_http_request_seconds_count", route="lab/hello") == 2
    assert sample(text, "instalab_http_request_seconds_bucket", route="lab/hello", le="0.005") == 2


def test_it_serves_the_summed_metrics_over_http(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", WORKER], env=env, cwd=settings.BASE_DIR, check=True, timeout=60
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    series = {"method": "GET", "route": "lab/hello", "status": "200"}
    assert sample(scrape(client), "instalab_http_requests_total", **series) == 2


def test_it_labels_regex_routes_by_their_group_names(client: Client) -> None:
    series = {"method": "GET", "route": "media/{path}", "status": "404"}
    before = sample(scrape(client), "instalab_http_requests_total", **series)
    client.get("/media/posts/missing-4e2a.jpg")
    text = scrape(client)
    assert sample(text, "instalab_http_requests_total", **series) - before == 1
    assert "4e2a" not in text
