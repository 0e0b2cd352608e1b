"""The JSON API: one NinjaAPI, one router per domain app, one error envelope for everything."""

from __future__ import annotations

import logging
import math
from typing import Any, cast

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from app.accounts.api import auth_router, users_router
from app.chat.api import router as chat_router
from app.chat.api import share_router as chat_share_router
from app.core import degrade
from app.core.middleware import unavailable
from app.core.ratelimit import Throttled
from app.feed.api import router as feed_router
from app.lab.api import ApiError
from app.lab.views import docs_in_lab_only
from app.notifications.api import router as notifications_router
from app.posts.api import router as posts_router
from app.posts.api import users_posts_router
from app.recs.api import router as recs_router
from app.search.api import pages_router as search_pages_router
from app.search.api import router as search_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="instalab API",
    version="1",
    description="Instagram-style photo community, built as a performance lab.",
    urls_namespace="api",
    # The interactive docs only in the lab (LAB_EXPERIMENTS); /api/openapi.json stays, for
    # clients and the API fuzzer.
    docs_decorator=docs_in_lab_only,
)


def error_response(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message}}, status=status
    )


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = error_response(request, exc.status, exc.code, exc.message)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        # A refusal that says when to retry (chat's rate limits): whole seconds, never 0.
        response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


@api.exception_handler(Throttled)
def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = error_response(request, exc.status, exc.code, exc.message)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = []
    for error in exc.errors[:10]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else error["msg"])
    return error_response(request, 400, "invalid_request", "; ".join(problems) or "invalid")


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "not_authenticated", "log in first")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja raises these for unparseable bodies (400) and the like.
    return error_response(request, exc.status_code, "bad_request", str(exc))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", "not found")


@api.exception_handler(PermissionDenied)
def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, 403, "forbidden", str(exc) or "forbidden")


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, 413, "too_large", "request body is too large")


@api.exception_handler(SuspiciousOperation)
def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return error_response(request, 400, "bad_request", "malformed request")


@api.exception_handler(MultiPartParserError)
def on_bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    # A multipart content type without a boundary, or a body that does not follow it.
    return error_response(request, 400, "bad_request", f"malformed multipart body: {exc}")


def on_outage(request: HttpRequest, exc: Any) -> HttpResponse:
    # Redis or PostgreSQL unreachable: a 503 with Retry-After; a read is then served again
    # from PostgreSQL alone by DegradeMiddleware (docs/reliability.md).
    response = unavailable(request, exc)
    assert response is not None  # registered for outage errors only
    return response


for _outage in (*degrade.REDIS_ERRORS, *degrade.DB_ERRORS):
    api.add_exception_handler(cast(type[Exception], _outage), on_outage)


@api.exception_handler(Exception)
def on_server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The catch-all, picked only when no handler above matches the exception's class. Never a
    # traceback in the response, whatever DEBUG says (ninja's default sends one when it is on):
    # the log has it.
    logger.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
    return error_response(request, 500, "server_error", "internal server error")


api.add_router("/auth", auth_router, tags=["auth"])
api.add_router("/", users_router, tags=["users"])
api.add_router("/posts", posts_router, tags=["posts"])
api.add_router("/", users_posts_router, tags=["posts"])
api.add_router("/", feed_router, tags=["feed"])
api.add_router("/", recs_router, tags=["recs"])
api.add_router("/chat", chat_router, tags=["chat"])
api.add_router("/", chat_share_router, tags=["chat"])
api.add_router("/search", search_router, tags=["search"])
api.add_router("/", search_pages_router, tags=["search"])
api.add_router("/notifications", notifications_router, tags=["notifications"])
