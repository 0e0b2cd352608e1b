"""Outages end as a fallback or a clean 503, never as a 500 or a hung request.

- A safe request (GET, HEAD) that met a Redis error anywhere below has tripped the breaker
  (app/core/degrade.py); it runs once more, now on PostgreSQL alone, so a read never fails
  because a cache did.
- Any other request that met a Redis or PostgreSQL error gets 503 with ``Retry-After``. Its
  transaction was rolled back by the error, so nothing of it is written; effects of writes
  that did commit go through the outbox and cannot fail the request (app/core/outbox.py).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from app.core import degrade

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DB_RETRY_AFTER = 2
# Set on the request by whoever turned an outage error into a response (the API's handler,
# process_exception below, the 500 view).
FAILED_ATTR = "lab_outage"


def outage_kind(exc: BaseException) -> str | None:
    if isinstance(exc, degrade.REDIS_ERRORS):
        return "redis"
    if isinstance(exc, degrade.DB_ERRORS):
        return "postgres"
    return None


def unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """The 503 for an outage error (and the breaker told), or None for any other error."""
    kind = outage_kind(exc)
    if kind is None:
        return None
    if kind == "redis":
        degrade.redis_failed(exc)
    setattr(request, FAILED_ATTR, kind)
    retry_after = degrade.RETRY_AFTER if kind == "redis" else DB_RETRY_AFTER
    message = "the service is degraded; retry shortly"
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": {"code": "unavailable", "message": message}}, status=503
        )
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response


class DegradeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if getattr(request, FAILED_ATTR, None) == "redis" and request.method in SAFE_METHODS:
            # The breaker is open now: this run reads PostgreSQL only.
            delattr(request, FAILED_ATTR)
            response = self.get_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable(request, exception)
