"""Server-rendered page shells; the JS module (static/web/app.js) fills them from the JSON API.

Views stay thin: check access, resolve the one object a URL names (so an unknown or hidden
profile or post is a real HTTP 404), and render. Everything else comes from /api/.
"""

from __future__ import annotations

import os
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from app.accounts import selectors as account_selectors
from app.accounts.models import User
from app.chat import selectors as chat_selectors
from app.core.text import line_check
from app.lab.api import ApiError
from app.posts import selectors as post_selectors


def _page(request: HttpRequest, page: str, **context: Any) -> HttpResponse:
    return render(request, f"web/{page}.html", {"page": page, **context})


def ws_url(request: HttpRequest) -> str:
    """Where the browser opens /ws/: ``LAB_WS_URL`` from the server runner (HTTP and WebSocket
    may be served on different ports), else the same origin as the page."""
    configured = os.environ.get("LAB_WS_URL", "").strip()
    if configured:
        return configured
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/ws/"


def _safe_next(request: HttpRequest) -> str:
    target = request.GET.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else "/"


def _signed_out_page(request: HttpRequest, name: str) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    return _page(request, name, next_url=_safe_next(request))


def login_page(request: HttpRequest) -> HttpResponse:
    return _signed_out_page(request, "login")


def signup_page(request: HttpRequest) -> HttpResponse:
    return _signed_out_page(request, "signup")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return _page(request, "home")


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    return _page(request, "upload")


def profile(request: HttpRequest, username: str) -> HttpResponse:
    try:
        # A name PostgreSQL cannot store (a NUL) names no one: 404, not a database error.
        owner = account_selectors.user_get(username=line_check(username))
    except (ApiError, ValueError):
        raise Http404("no such user") from None
    return _page(request, "profile", owner=owner)


def post_detail(request: HttpRequest, post_id: int) -> HttpResponse:
    try:
        post = post_selectors.post_visible_get(viewer=request.user, post_id=post_id)
    except ApiError:
        raise Http404("no such post") from None
    return _page(request, "post", post=post)


def search(request: HttpRequest) -> HttpResponse:
    return _page(request, "search", query=request.GET.get("q", "")[:100])


def hashtag(request: HttpRequest, name: str) -> HttpResponse:
    return _page(request, "hashtag", name=name)


def place(request: HttpRequest, place_id: int) -> HttpResponse:
    return _page(request, "place", place_id=place_id)


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    return _page(request, "inbox", ws_url=ws_url(request))


@login_required
def room(request: HttpRequest, room_id: int) -> HttpResponse:
    try:
        chat_selectors.room_member_check(user=cast(User, request.user), room_id=room_id)
    except ApiError:
        raise Http404("no such room") from None
    return _page(request, "room", room_id=room_id, ws_url=ws_url(request))
