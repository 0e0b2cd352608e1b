"""Notification endpoints under /api/notifications: the list, the unread count, mark read."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from app.core.auth import auth_user
from app.core.text import CleanStr
from app.lab.api import auth, decode_cursor, json_response, page, parse_limit
from app.notifications import selectors, services
from app.notifications.schemas import (
    NotificationOut,
    NotificationPage,
    ReadIn,
    ReadOut,
    UnreadNotificationsOut,
)

router = Router()


@router.get("", response=NotificationPage, auth=auth)
def notification_list(
    request: HttpRequest, cursor: CleanStr | None = None, limit: int | None = None
) -> HttpResponse:
    """Newest first, keyset on id; one query."""
    size = parse_limit(limit)
    decoded = decode_cursor(cursor, (int,))
    rows = selectors.notifications_page(
        user=auth_user(request), before=decoded[0] if decoded else None, limit=size
    )
    body: dict[str, Any] = page(rows, size, lambda row: (row.pk,))
    body["items"] = [NotificationOut.of(row) for row in body["items"]]
    return json_response(body)


@router.get("/unread", response=UnreadNotificationsOut, auth=auth)
def notification_unread(request: HttpRequest) -> dict[str, int]:
    return {"count": selectors.unread_count(user=auth_user(request))}


@router.post("/read", response=ReadOut, auth=auth)
def notification_read(request: HttpRequest, payload: ReadIn) -> dict[str, int]:
    return {"marked": services.notifications_read(user=auth_user(request), up_to=payload.up_to)}
