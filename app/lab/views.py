"""Health, readiness, metrics, a hello-world baseline view, and JSON error pages for /api/."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django_redis import get_redis_connection

from app.lab.metrics import render_metrics

# What /readyz probes. Module constants, so a test can aim a probe at a server that is not there.
READY_DATABASE = "default"
READY_CACHE = "default"


def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive; touches neither the database nor Redis."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """PostgreSQL and Redis are reachable, per component with latency; 503 when one is down."""
    components = {
        "postgres": _probe(lambda: _ping_postgres(READY_DATABASE)),
        "redis": _probe(lambda: _ping_redis(READY_CACHE)),
    }
    healthy = all(component["status"] == "ok" for component in components.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "components": components},
        status=200 if healthy else 503,
    )


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
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")


def _ping_redis(alias: str) -> None:
    get_redis_connection(alias).ping()


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition, summed over every worker process."""
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)


def hello(request: HttpRequest) -> HttpResponse:
    """The serving baseline: the full middleware stack and nothing else."""
    return JsonResponse({"hello": "world"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "not found"}}, status=404)
    return render(request, "web/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"error": {"code": "server_error", "message": "internal error"}}
        return JsonResponse(body, status=500)
    return render(request, "web/500.html", status=500)
