"""Request authentication helpers every layer may use: the bearer token, the signed-in user."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.http import HttpRequest

if TYPE_CHECKING:  # a type only: core imports no app at run time
    from app.accounts.models import User

BEARER = "bearer "


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (any case), else None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[: len(BEARER)].lower() == BEARER:
        token = header[len(BEARER) :].strip()
        return token or None
    return None


def auth_user(request: HttpRequest) -> User:
    """The signed-in user an endpoint's ``auth`` resolved; only for endpoints that declare
    one (django-ninja sets ``request.auth`` before the view runs)."""
    return cast("User", request.auth)  # type: ignore[attr-defined]
