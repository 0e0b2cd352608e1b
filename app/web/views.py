"""Server-rendered page shells; the JS modules (static/web/app.js, js/) fill them from the JSON API.

Views stay thin: check access, resolve the one object a URL names (so an unknown or hidden
profile or post is a real HTTP 404), and render. Everything else comes from /api/.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
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
from app.search import selectors as search_selectors


def _page(request: HttpRequest, page: str, **context: Any) -> HttpResponse:
    # Every signed-in page opens the user's socket: the unread badges and notifications are
    # live on all of them, not only in the inbox.
    live = ws_url(request) if request.user.is_authenticated else ""
    return render(request, f"web/{page}.html", {"page": page, "ws_url": live, **context})


def ws_url(request: HttpRequest) -> str:
    """Where the browser opens /ws/: ``LAB_WS_URL`` from the server runner (HTTP and WebSocket
    may be served on different ports), else the same origin as the page."""
    configured: str = settings.LAB_WS_URL
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


def signed_out_page(request: HttpRequest, page: str) -> HttpResponse:
    """Login or signup (urls.py names it): a signed-in viewer goes on to ``next``."""
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    return _page(request, page, next_url=_safe_next(request))


@login_required
def signed_in_page(request: HttpRequest, page: str) -> HttpResponse:
    """A page that only needs a signed-in viewer (home, upload, explore, the inbox, ...):
    urls.py names the page; its script asks /api/ for everything it shows."""
    return _page(request, page)


def profile(request: HttpRequest, username: str) -> HttpResponse:
    return _page(request, "profile", owner=_profile_owner(username), tab="posts")


def post_detail(request: HttpRequest, post_id: int) -> HttpResponse:
    try:
        post = post_selectors.post_visible_get(viewer=request.user, post_id=post_id)
    except ApiError:
        raise Http404("no such post") from None
    return _page(request, "post", post=post)


def search(request: HttpRequest) -> HttpResponse:
    return _page(request, "search", query=request.GET.get("q", "")[:100])


def hashtag(request: HttpRequest, name: str) -> HttpResponse:
    try:
        search_selectors.hashtag_page_check(viewer=request.user, name=line_check(name))
    except (ApiError, ValueError):
        raise Http404("no such hashtag") from None
    return _page(request, "hashtag", name=name)


def place(request: HttpRequest, place_id: int) -> HttpResponse:
    try:
        found = search_selectors.place_get(place_id=place_id)
    except ApiError:
        raise Http404("no such place") from None
    return _page(request, "place", place_id=place_id, place=found)


def _profile_owner(username: str) -> User:
    try:
        # A name PostgreSQL cannot store (a NUL) names no one: 404, not a database error.
        return account_selectors.user_get(username=line_check(username))
    except (ApiError, ValueError):
        raise Http404("no such user") from None


@login_required
def saved(request: HttpRequest, username: str) -> HttpResponse:
    """The saved-posts tab: only ever the viewer's own."""
    owner = _profile_owner(username)
    if owner.pk != request.user.pk:
        raise Http404("saved posts are private")
    return _page(request, "profile", owner=owner, tab="saved")


def follow_list(request: HttpRequest, username: str, side: str) -> HttpResponse:
    return _page(request, "follow_list", owner=_profile_owner(username), side=side)


@login_required
def room(request: HttpRequest, room_id: int) -> HttpResponse:
    try:
        chat_selectors.room_member_check(user=cast(User, request.user), room_id=room_id)
    except ApiError:
        raise Http404("no such room") from None
    return _page(request, "room", room_id=room_id)
