"""Server-Timing (to lab clients and staff), the X-Lab-Strategy request switch, and the
pages' Content-Security-Policy."""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from app.core.replicas import POSITION_SQL, is_read
from app.lab import stats, strategies


def server_timing_visible(request: HttpRequest) -> bool:
    """Everyone sees the timings in the lab; with LAB_EXPERIMENTS off (production) only staff
    do: DB time and query counts tell an attacker which requests are expensive."""
    if settings.LAB_EXPERIMENTS:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


class ServerTimingMiddleware:
    """Times the request and counts every SQL statement it runs, on every connection."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # The primary, and the read replicas when there are (app/core/replicas.py).
        self.aliases = tuple(settings.DATABASES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = stats.begin()
        request_stats = stats.current()
        assert request_stats is not None
        request_stats.replicas = len(self.aliases) > 1

        def count(
            execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
        ) -> Any:
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                request_stats.db_queries += 1
                request_stats.db_seconds += time.perf_counter() - started
                if sql is POSITION_SQL:
                    request_stats.replica_positions += 1
                elif is_read(sql):
                    request_stats.db_reads += 1
                if context["connection"].alias != DEFAULT_DB_ALIAS:
                    request_stats.replica_queries += 1

        try:
            if len(self.aliases) == 1:  # the usual case: no ExitStack on the hot path
                with connections[self.aliases[0]].execute_wrapper(count):
                    response = self.get_response(request)
            else:
                with contextlib.ExitStack() as wrapped:
                    for alias in self.aliases:
                        wrapped.enter_context(connections[alias].execute_wrapper(count))
                    response = self.get_response(request)
            if server_timing_visible(request):
                response["Server-Timing"] = request_stats.server_timing()
            return response
        finally:
            stats.end(token)


class StrategyMiddleware:
    """Reads ``X-Lab-Strategy: feed=naive,...``; 400 on an unknown name, ignored when off."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.headers.get(strategies.HEADER)
        if raw and settings.LAB_EXPERIMENTS:
            try:
                requested = strategies.parse_header(raw)
            except strategies.StrategyError as exc:
                return JsonResponse(
                    {"error": {"code": "unknown_strategy", "message": str(exc)}}, status=400
                )
            request_stats = stats.current()
            if request_stats is not None:
                request_stats.requested.update(requested)
        return self.get_response(request)


def _ws_origin() -> str | None:
    """The WebSocket origin the pages connect to when it is not the page's own (the runner
    serves /ws/ on another port and says where in LAB_WS_URL, app/web/views.py)."""
    parts = urllib.parse.urlsplit(settings.LAB_WS_URL)
    if parts.scheme in ("ws", "wss") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy (settings.CONTENT_SECURITY_POLICY) on HTML pages, with the
    WebSocket origin added to ``connect-src``. JSON and files skip it: they run no script, and
    building the header costs about 30 us, a tenth of a warm API request's middleware time."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origin = _ws_origin()
        if origin and not report_only:
            parts.update = {**(parts.update or {}), "connect-src": [origin]}
        return parts
