"""Session middleware that also accepts ``Authorization: Bearer <token>`` from scripted clients.

The token returned by login *is* the session key, so a bearer request takes exactly the same
path as a browser's (cached_db session, then the user) and logout revokes both at once. The
session engine (app/accounts/sessions.py) reads a session and its user's cached row in one
Redis round trip; this middleware scopes that row to the request.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponseBase

from app.accounts import usercache
from app.core.auth import bearer_token


class SessionMiddleware(DjangoSessionMiddleware):
    # Sync only: under ASGI Django runs it in a thread, like every sync view here.
    async_capable = False

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with usercache.prefetch_scope():
            response = super().__call__(request)
        assert isinstance(response, HttpResponseBase)  # the sync stack: never awaitable
        return response

    def process_request(self, request: HttpRequest) -> None:
        token = bearer_token(request)
        session_key = token or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        request.session = self.SessionStore(session_key)
        # Bearer requests carry no ambient credential, so they need no CSRF token.
        request.lab_bearer = token is not None  # type: ignore[attr-defined]
