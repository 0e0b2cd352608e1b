"""Auth and user endpoints: signup, login, the current user, profiles and the follow graph."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import ensure_csrf_cookie
from ninja import File, Router, Status, UploadedFile
from ninja.decorators import decorate_view

from app.accounts import avatar, selectors, services
from app.accounts.models import Follow, User
from app.accounts.schemas import (
    BIO_MAX,
    NAME_MAX,
    AuthOut,
    CsrfOut,
    FollowRequestDecisionOut,
    FollowRequestOut,
    FollowRequestPage,
    FollowStateOut,
    FollowUserOut,
    FollowUserPage,
    LoginIn,
    MeOut,
    OkOut,
    ProfileLimitsOut,
    ProfileOut,
    ProfilePatchIn,
    SignupIn,
    UserSummary,
)
from app.core.auth import auth_user
from app.core.images import ALLOWED_FORMATS
from app.core.ratelimit import client_address
from app.core.text import CleanStr
from app.lab.api import ApiError, auth, decode_cursor, json_response, page, parse_limit

auth_router = Router()
users_router = Router()

KEYSET = (datetime, int)


def _viewer(request: HttpRequest) -> User | AnonymousUser:
    return request.user


def _require_json(request: HttpRequest) -> None:
    """Refuse bodies that are not ``application/json``.

    Login and signup take no CSRF token (there is no session yet to bind it to). A cross-site
    HTML form can only send form or text/plain bodies; a JSON content type needs a CORS
    preflight, which we never grant. Insisting on it here is the login-CSRF defence: ninja
    parses any body as JSON whatever its content type.
    """
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")


def _auth_body(request: HttpRequest, user: User) -> dict[str, Any]:
    login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
    if request.session.session_key is None:
        # Signed in as someone else before: login() flushed that session (deleting it, so the
        # old token dies) and leaves the new one unsaved until the response. The token is its
        # key, so save it now.
        request.session.save()
    token = request.session.session_key
    assert token is not None
    return {"token": token, "user": MeOut.of(user)}


def _edge_item(edge: Follow, side: str) -> FollowUserOut:
    user = getattr(edge, side)
    summary = UserSummary.of(user).model_dump()
    return FollowUserOut(**summary, viewer_follows=edge.viewer_follows)  # type: ignore[attr-defined]


# --- auth -------------------------------------------------------------------------------


@auth_router.get("/csrf", response=CsrfOut)
@decorate_view(ensure_csrf_cookie)
def csrf(request: HttpRequest) -> dict[str, str]:
    return {"csrf_token": get_token(request)}


@auth_router.post("/signup", response={201: AuthOut})
def signup(request: HttpRequest, payload: SignupIn) -> Status[dict[str, Any]]:
    _require_json(request)
    user = services.user_signup(
        username=payload.username,
        email=payload.email,
        password=payload.password,
        address=client_address(request),
    )
    return Status(201, _auth_body(request, user))


@auth_router.post("/login", response=AuthOut)
def login_(request: HttpRequest, payload: LoginIn) -> dict[str, Any]:
    _require_json(request)
    user = services.user_login_check(
        request=request,
        username=payload.username,
        password=payload.password,
        address=client_address(request),
    )
    return _auth_body(request, user)


@auth_router.post("/logout", response=OkOut, auth=auth)
def logout_(request: HttpRequest) -> dict[str, bool]:
    # flush() deletes the session row and its cache entry: the bearer token dies with it.
    logout(request)
    return {"ok": True}


# --- the current user -------------------------------------------------------------------


@users_router.get("/me", response=MeOut, auth=auth)
def me(request: HttpRequest) -> HttpResponse:
    # Built from typed model fields: no second validation by ninja (app/lab/api.py).
    return json_response(MeOut.of(auth_user(request)))


@users_router.patch("/me", response=MeOut, auth=auth)
def me_update(request: HttpRequest, payload: ProfilePatchIn) -> MeOut:
    _require_json(request)
    user = services.user_update_profile(user=auth_user(request), **payload.model_dump())
    return MeOut.of(user)


@users_router.get("/me/limits", response=ProfileLimitsOut, auth=auth)
def me_limits(request: HttpRequest) -> dict[str, Any]:
    """What the edit-profile form may send, so the browser never hard-codes a limit."""
    return {
        "name_max": NAME_MAX,
        "bio_max": BIO_MAX,
        "avatar_types": [f"image/{name.lower()}" for name in ALLOWED_FORMATS],
        "avatar_max_bytes": settings.MAX_UPLOAD_BYTES,
    }


@users_router.post("/me/avatar", response=MeOut, auth=auth)
def me_avatar_set(request: HttpRequest, image: File[UploadedFile]) -> MeOut:
    """Multipart: one JPEG, PNG or WebP ``image``, checked and rendered like a post's images;
    the old avatar stays until the new one is stored (app/accounts/avatar.py)."""
    return MeOut.of(avatar.avatar_set(user=auth_user(request), upload=image))


@users_router.delete("/me/avatar", response=MeOut, auth=auth)
def me_avatar_clear(request: HttpRequest) -> MeOut:
    return MeOut.of(avatar.avatar_clear(user=auth_user(request)))


@users_router.get("/me/follow-requests", response=FollowRequestPage, auth=auth)
def follow_requests(
    request: HttpRequest, cursor: CleanStr | None = None, limit: int | None = None
) -> dict[str, Any]:
    size = parse_limit(limit)
    rows = selectors.follow_requests_page(
        owner=auth_user(request), cursor=decode_cursor(cursor, KEYSET), limit=size
    )
    body = page(rows, size, lambda row: (row.created_at, row.id))
    body["items"] = [
        FollowRequestOut(id=row.id, user=UserSummary.of(row.requester), created_at=row.created_at)
        for row in body["items"]
    ]
    return body


@users_router.post(
    "/me/follow-requests/{username}/approve", response=FollowRequestDecisionOut, auth=auth
)
def follow_request_approve(request: HttpRequest, username: CleanStr) -> dict[str, str]:
    requester = selectors.user_get(username=username)
    services.follow_request_approve(owner=auth_user(request), requester=requester)
    return {"status": "approved"}


@users_router.post(
    "/me/follow-requests/{username}/decline", response=FollowRequestDecisionOut, auth=auth
)
def follow_request_decline(request: HttpRequest, username: CleanStr) -> dict[str, str]:
    requester = selectors.user_get(username=username)
    services.follow_request_decline(owner=auth_user(request), requester=requester)
    return {"status": "declined"}


# --- users and the follow graph ---------------------------------------------------------


@users_router.get("/users/{username}", response=ProfileOut)
def profile(request: HttpRequest, username: CleanStr) -> HttpResponse:
    user = selectors.user_for_viewer(viewer=_viewer(request), username=username)
    return json_response(ProfileOut.of(user))


def _edge_list(
    request: HttpRequest, *, username: str, cursor: str | None, limit: int | None, side: str
) -> dict[str, Any]:
    size = parse_limit(limit)
    after = decode_cursor(cursor, KEYSET)
    viewer = _viewer(request)
    owner = selectors.user_for_viewer(viewer=viewer, username=username)
    # A private account's graph is as hidden as its posts: 404, not 403.
    if not selectors.user_lists_visible(viewer=viewer, owner=owner):
        raise ApiError(404, "not_found", "user not found")
    fetch = selectors.user_followers_page if side == "follower" else selectors.user_following_page
    rows = fetch(viewer=viewer, owner=owner, cursor=after, limit=size)
    body = page(rows, size, lambda edge: (edge.created_at, edge.id))
    body["items"] = [_edge_item(edge, side) for edge in body["items"]]
    return body


@users_router.get("/users/{username}/followers", response=FollowUserPage)
def followers(
    request: HttpRequest,
    username: CleanStr,
    cursor: CleanStr | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    return _edge_list(request, username=username, cursor=cursor, limit=limit, side="follower")


@users_router.get("/users/{username}/following", response=FollowUserPage)
def following(
    request: HttpRequest,
    username: CleanStr,
    cursor: CleanStr | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    return _edge_list(request, username=username, cursor=cursor, limit=limit, side="followee")


@users_router.post("/users/{username}/follow", response=FollowStateOut, auth=auth)
def follow(request: HttpRequest, username: CleanStr) -> dict[str, str]:
    target = selectors.user_get(username=username)
    return {"status": services.follow_create(follower=auth_user(request), followee=target)}


@users_router.delete("/users/{username}/follow", response=FollowStateOut, auth=auth)
def unfollow(request: HttpRequest, username: CleanStr) -> dict[str, str]:
    target = selectors.user_get(username=username)
    return {"status": services.follow_delete(follower=auth_user(request), followee=target)}
