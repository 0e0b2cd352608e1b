"""GET /api/explore: recommended posts, served by the strategy the lab switch picks."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from ninja import Router

from app.accounts.models import User
from app.core.text import CleanStr
from app.lab.api import auth, json_response
from app.posts.schemas import PostPage
from app.recs.selectors import explore_page

router = Router()


@router.get("/explore", auth=auth, response=PostPage)
def explore(
    request: HttpRequest, cursor: CleanStr | None = None, limit: int | None = None
) -> HttpResponse:
    """Posts ranked for you from accounts you do not follow, never your own, liked or private
    ones; keyset on the rank. ``X-Lab-Strategy: explore=als|popular`` picks the ranking."""
    viewer = cast(User, request.auth)  # type: ignore[attr-defined]
    result = explore_page(viewer=viewer, cursor=cursor, limit=limit)
    # The items are validated PostOut objects already: no second validation (json_response).
    return json_response(result)
