"""GET /api/explore: recommended posts, served by the strategy the lab switch picks."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja.renderers import JSONRenderer

from app.accounts.models import User
from app.lab.api import auth
from app.posts.schemas import PostPage
from app.recs.selectors import explore_page

router = Router()
_renderer = JSONRenderer()


@router.get("/explore", auth=auth, response=PostPage)
def explore(
    request: HttpRequest, cursor: str | None = None, limit: int | None = None
) -> HttpResponse:
    """Posts ranked for you from accounts you do not follow, never your own, liked or private
    ones; keyset on the rank. ``X-Lab-Strategy: explore=als|popular`` picks the ranking."""
    viewer = cast(User, request.auth)  # type: ignore[attr-defined]
    result = explore_page(viewer=viewer, cursor=cursor, limit=limit)
    # Rendered as the feed does: the items are validated PostOut already (app/feed/api.py).
    body = {
        "items": [item.model_dump() for item in result["items"]],
        "next_cursor": result["next_cursor"],
    }
    content = _renderer.render(request, body, response_status=200)
    return HttpResponse(content, content_type=f"{_renderer.media_type}; charset=utf-8")
