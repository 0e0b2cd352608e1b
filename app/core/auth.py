"""Request authentication helpers every layer may use: reading a bearer token."""

from __future__ import annotations

from django.http import HttpRequest

BEARER = "bearer "


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (any case), else None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[: len(BEARER)].lower() == BEARER:
        token = header[len(BEARER) :].strip()
        return token or None
    return None
