"""Server-Timing on every response, and the X-Lab-Strategy request switch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from app.lab import stats, strategies


class ServerTimingMiddleware:
    """Times the request and counts every SQL statement it runs, on every connection."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = stats.begin()
        request_stats = stats.current()
        assert request_stats is not None

        def count(
            execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
        ) -> Any:
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                request_stats.db_queries += 1
                request_stats.db_seconds += time.perf_counter() - started

        try:
            with connections["default"].execute_wrapper(count):
                response = self.get_response(request)
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
