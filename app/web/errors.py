"""The site's 404 and 500 pages: the JSON error envelope under /api/, the web pages elsewhere.

An outage raised outside any view (in a middleware) still ends as a 503 with Retry-After
(app/core/middleware.py), not a 500.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from app.core.middleware import unavailable


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "not found"}}, status=404)
    return render(request, "web/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # Called inside Django's handler for the exception.
    outage = unavailable(request, exc) if (exc := sys.exc_info()[1]) is not None else None
    if outage is not None:
        return outage
    if request.path.startswith("/api/"):
        body = {"error": {"code": "server_error", "message": "internal error"}}
        return JsonResponse(body, status=500)
    return render(request, "web/500.html", status=500)
