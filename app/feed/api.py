"""GET /api/feed: the home timeline, served by the strategy the lab switch picks."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from ninja import Router

from app.accounts.models import User
from app.core.text import CleanStr
from app.feed.page import feed_page
from app.lab.api import auth, json_response
from app.posts.schemas import PostPage

router = Router()


@router.get("/feed", auth=auth, response=PostPage)
def feed(
    request: HttpRequest, cursor: CleanStr | None = None, limit: int | None = None
) -> HttpResponse:
    """Posts of the accounts you follow and your own, newest first, keyset on (created_at, id).
    ``X-Lab-Strategy: feed=naive|optimized|cached`` picks the implementation."""
    viewer = cast(User, request.auth)  # type: ignore[attr-defined]
    result = feed_page(viewer=viewer, cursor=cursor, limit=limit)
    # The items are validated PostOut objects already: no second validation (json_response).
    return json_response(result)
