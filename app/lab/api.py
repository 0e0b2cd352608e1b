"""Shared API plumbing: the error envelope, auth, keyset cursors and fast JSON responses for
every router."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from ninja import Path
from ninja.security.base import AuthBase
from ninja.utils import check_csrf
from pydantic import BaseModel

# The error and its two common cases live in the shared core; they are imported from here
# by every router.
from app.core.errors import ApiError as ApiError
from app.core.errors import bad_request as bad_request
from app.core.errors import not_found as not_found

DEFAULT_LIMIT = 20
# A path id: a positive bigint. Larger values would overflow PostgreSQL's bigint (a 500).
PathId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_LIMIT = 50


class SessionOrBearer(AuthBase):
    """Authenticated user from the session cookie (CSRF enforced) or a bearer token (not)."""

    openapi_type = "apiKey"

    def __init__(self) -> None:
        self.openapi_in = "cookie"
        self.openapi_name = "sessionid"
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        unsafe = request.method not in ("GET", "HEAD", "OPTIONS", "TRACE")
        if unsafe and not getattr(request, "lab_bearer", False) and check_csrf(request):
            raise ApiError(403, "csrf_failed", "CSRF token missing or incorrect")
        return user


auth = SessionOrBearer()


_django_json = DjangoJSONEncoder()


class RawJSON:
    """A value that is already JSON: a response embeds its bytes as they are (no parsing and
    no re-encoding), e.g. a cached post body with the viewer's flags appended."""

    __slots__ = ()

    def fragment(self) -> orjson.Fragment:
        raise NotImplementedError


def _json_default(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return value.fragment()
    if isinstance(value, BaseModel):
        return value.model_dump()
    # Datetimes, UUIDs and decimals read exactly as in ninja's own responses.
    return _django_json.default(value)


def json_bytes(body: Any) -> bytes:
    """``body`` encoded exactly as :func:`json_response` sends it."""
    return orjson.dumps(body, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def json_response(body: Any) -> HttpResponse:
    """A 200 JSON response for a body of already-validated schema objects (and plain data).

    Returned to ninja, schema objects are validated again through its per-field getter (a
    Django template variable lookup per attribute): 12 ms for one page of 20 search hits and
    30 ms for 20 posts, more than the queries behind them (docs/experiments/feed.md). Views
    whose bodies are built from schemas return this instead; their route's ``response=`` still
    documents the shape, and the tests check it. orjson encodes about 10x faster than json.
    """
    return HttpResponse(json_bytes(body), content_type="application/json; charset=utf-8")


def parse_limit(limit: int | None) -> int:
    """The page size: default 20; outside 1..50 is rejected with 400, never silently capped."""
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def encode_cursor(*values: Any) -> str:
    """An opaque keyset cursor over the sort key of the last item of a page."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, types: Sequence[type]) -> tuple[Any, ...] | None:
    """Decode and type-check a cursor made by :func:`encode_cursor`; 400 on anything else."""
    if cursor is None or cursor == "":
        return None
    invalid = bad_request("invalid_cursor", "cursor is malformed or expired")
    if len(cursor) > 200:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(values, list) or len(values) != len(types):
        raise invalid
    typed: list[Any] = []
    for value, kind in zip(values, types, strict=True):
        try:
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError
                typed.append(parsed)
            elif kind is int:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError
                typed.append(value)
            else:
                if not isinstance(value, kind):
                    raise ValueError
                typed.append(value)
        except (TypeError, ValueError):
            raise invalid from None
    return tuple(typed)


def page(items: list[Any], limit: int, cursor_of: Any) -> dict[str, Any]:
    """Shape a list body; ``items`` holds up to ``limit + 1`` rows (one extra to detect more)."""
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(*cursor_of(items[-1])) if more and items else None
    return {"items": items, "next_cursor": next_cursor}
