"""Health, readiness, metrics (for operators only), a hello-world baseline view, and the
lab-only gate for the API docs. The site's error pages are app/web/errors.py."""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_redis import get_redis_connection

from app.core import redisroles
from app.core.auth import bearer_token
from app.core.postgres.base import gate_for
from app.core.ratelimit import client_ip
from app.lab.metrics import render_metrics

# What /readyz probes. Module constants, so a test can aim a probe at a server that is not there.
READY_DATABASE = "default"
READY_CACHE = "default"
READY_DB_TIMEOUT = 0.5


def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive; touches neither the database nor Redis."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """PostgreSQL and Redis, per component with latency: 503 when PostgreSQL is down, 200
    "degraded" when only Redis is."""
    components = {
        "postgres": _probe(lambda: _ping_postgres(READY_DATABASE)),
        "redis": _probe(lambda: _ping_redis(READY_CACHE)),
    }
    # Ready means PostgreSQL answers. Without Redis the app still serves (from PostgreSQL,
    # docs/reliability.md): "degraded", but ready, so a balancer keeps sending traffic.
    ready = components["postgres"]["status"] == "ok"
    healthy = ready and components["redis"]["status"] == "ok"
    status = "ok" if healthy else "degraded" if ready else "unavailable"
    return JsonResponse({"status": status, "components": components}, status=200 if ready else 503)


def _probe(ping: Callable[[], None]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        ping()
    except Exception as exc:
        # The exception's class, not its message: messages can carry hosts and user names.
        result: dict[str, object] = {"status": "down", "error": type(exc).__name__}
    else:
        result = {"status": "ok"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _ping_postgres(alias: str) -> None:
    wrapper = connections[alias]
    if gate_for(alias).is_shut():
        # A connection was just refused (app/core/postgres): down, without waiting.
        raise OperationalError("PostgreSQL is unavailable")
    if wrapper.settings_dict["OPTIONS"].get("pool"):
        # Straight from the pool, with a deadline below the 1 s a probe may take: with the
        # server gone, the pool would otherwise wait its whole timeout for a connection.
        pool = wrapper.pool  # type: ignore[attr-defined]  # PostgreSQL's wrapper only
        pool.open()  # a no-op once open; a fresh worker's first query opens it otherwise
        with pool.connection(timeout=READY_DB_TIMEOUT) as conn:
            conn.execute("SELECT 1")
        return
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")


def _ping_redis(alias: str) -> None:
    """The cache's Redis, then each other server a Redis role lives on (app/core/redisroles.py)."""
    get_redis_connection(alias).ping()
    for server in redisroles.servers()[1:]:
        redisroles.connection_at(server).ping()


def metrics_allowed(request: HttpRequest) -> bool:
    """With METRICS_TOKEN set, only a request bearing it; without, only loopback clients."""
    expected: str = settings.METRICS_TOKEN
    if expected:
        token = bearer_token(request) or ""
        return hmac.compare_digest(token.encode(), expected.encode())
    ip = client_ip(request)
    return ip is not None and ip.is_loopback


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition, summed over every worker process; 403 to anyone else."""
    if not metrics_allowed(request):
        refusal = {
            "error": {
                "code": "forbidden",
                "message": "metrics need the METRICS_TOKEN bearer token, or a loopback client",
            }
        }
        return JsonResponse(refusal, status=403)
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)


def lab_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view that exists only with LAB_EXPERIMENTS on (the API docs); a 404 otherwise."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.LAB_EXPERIMENTS:
            body = {"error": {"code": "not_found", "message": "not found"}}
            return JsonResponse(body, status=404)
        return view(request, *args, **kwargs)

    return wrapped


def docs_in_lab_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """ninja's ``docs_decorator``, which it applies to both its docs page and the schema: the
    interactive page exists only in the lab, /api/openapi.json always (clients and the API
    fuzzer read it; it says no more than the API itself)."""
    target = getattr(view, "func", view)  # ninja passes a functools.partial
    if getattr(target, "__name__", "") == "openapi_view":
        return lab_only(view)
    return view


def hello(request: HttpRequest) -> HttpResponse:
    """The serving baseline: the full middleware stack and nothing else."""
    return JsonResponse({"hello": "world"})
