"""Health, readiness, metrics, a hello-world baseline view, and JSON error pages for /api/."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django_redis import get_redis_connection


def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive; touches nothing else."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """PostgreSQL and Redis are reachable; 503 with the failing component otherwise."""
    components: dict[str, dict[str, str]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        components["postgres"] = {"status": "ok"}
    except Exception as exc:
        components["postgres"] = {"status": "down", "error": type(exc).__name__}
    try:
        get_redis_connection("default").ping()
        components["redis"] = {"status": "ok"}
    except Exception as exc:
        components["redis"] = {"status": "down", "error": type(exc).__name__}
    healthy = all(c["status"] == "ok" for c in components.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "components": components},
        status=200 if healthy else 503,
    )


def metrics(request: HttpRequest) -> HttpResponse:
    from app.lab.metrics import render_metrics

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
