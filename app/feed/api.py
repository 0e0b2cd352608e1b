"""GET /api/feed: the home timeline, served by the strategy the lab switch picks."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja.renderers import JSONRenderer

from app.accounts.models import User
from app.feed.strategies import feed_page
from app.lab.api import auth
from app.posts.schemas import PostPage

router = Router()
_renderer = JSONRenderer()


@router.get("/feed", auth=auth, response=PostPage)
def feed(request: HttpRequest, cursor: str | None = None, limit: int | None = None) -> HttpResponse:
    """Posts of the accounts you follow and your own, newest first, keyset on (created_at, id).
    ``X-Lab-Strategy: feed=naive|optimized|cached`` picks the implementation."""
    viewer = cast(User, request.auth)  # type: ignore[attr-defined]
    result = feed_page(viewer=viewer, cursor=cursor, limit=limit)
    # The items are already validated PostOut objects. Returning them to ninja would validate
    # them again through its per-field getter: 30 ms for 20 posts, more than the cached feed
    # itself (measured, docs/experiments/feed.md). So they are rendered as ninja would.
    body = {
        "items": [item.model_dump() for item in result["items"]],
        "next_cursor": result["next_cursor"],
    }
    content = _renderer.render(request, body, response_status=200)
    return HttpResponse(content, content_type=f"{_renderer.media_type}; charset=utf-8")
