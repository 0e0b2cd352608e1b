"""The total request size cap, ``MAX_REQUEST_BYTES``: a 413 with the JSON error envelope.

Two places, because the two server interfaces read bodies at different times:

- WSGI (granian, gunicorn): Django reads the body lazily, at most ``Content-Length`` bytes (a
  body without one reads as empty), so :class:`RequestSizeMiddleware` refusing by header,
  before anything touches ``request.body``, bounds every request;
- ASGI (uvicorn, granian ASGI): Django's handler spools the whole body to a temporary file
  before any middleware runs, whatever its size, so :class:`ASGIBodyLimit` wraps the app and
  refuses by header, and cuts off a streamed (chunked) body once it passes the cap.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Loose on purpose: Django types its handler with dict and Mapping, not MutableMapping.
ASGIApp = Callable[..., Awaitable[None]]

CODE = "request_too_large"


def _message() -> str:
    return f"the request body is larger than {settings.MAX_REQUEST_BYTES} bytes"


def _declared_length(raw: str | bytes | None) -> int | None:
    """The Content-Length as a number; None when absent. A malformed one counts as too large:
    every server in front would refuse it anyway."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return settings.MAX_REQUEST_BYTES + 1
    return value if value >= 0 else settings.MAX_REQUEST_BYTES + 1


def too_large_response() -> HttpResponse:
    response = JsonResponse({"error": {"code": CODE, "message": _message()}}, status=413)
    # The unread body stays on the socket; the client must not reuse it.
    response["Connection"] = "close"
    return response


class RequestSizeMiddleware:
    """413 for a declared body over the cap, before any view or middleware reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = _declared_length(request.META.get("CONTENT_LENGTH") or None)
        if length is not None and length > settings.MAX_REQUEST_BYTES:
            return too_large_response()
        return self.get_response(request)


class ASGIBodyLimit:
    """Wraps the HTTP app: refuses a declared body over the cap at once, and answers 413 (then
    hands the app a disconnect, so Django stops reading) when a streamed body passes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int = settings.MAX_REQUEST_BYTES
        headers = dict(scope.get("headers") or [])
        length = _declared_length(headers.get(b"content-length"))
        if length is not None and length > limit:
            await _send_413(send)
            return
        received = 0
        refused = False

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _send_413(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            # After our 413 the app has nothing more to say on this request.
            if not refused:
                await send(message)

        await self.app(scope, bounded_receive, guarded_send)


async def _send_413(send: Send) -> None:
    body = json.dumps({"error": {"code": CODE, "message": _message()}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
