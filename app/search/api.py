"""Search endpoints under /api/search, and the hashtag and place pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from app.core import degrade
from app.core.auth import auth_user
from app.core.text import CleanStr
from app.lab.api import PathId, auth, bad_request, json_response, parse_limit
from app.posts.schemas import PostOut
from app.search import selectors, services
from app.search.normalize import search_text_parse, suggest_text_parse
from app.search.schemas import (
    HashtagHeader,
    HashtagHitPage,
    HashtagPageOut,
    HistoryIn,
    HistoryOut,
    HistoryPage,
    PageOrder,
    PlaceHeader,
    PlaceHitPage,
    PlacePageOut,
    PostHitPage,
    SearchAllOut,
    SearchType,
    SuggestList,
    SuggestOut,
    TrendingList,
    UserHitPage,
    hits_of,
)
from app.search.strategies import KINDS

router = Router()
pages_router = Router()

SearchOut = SearchAllOut | UserHitPage | PostHitPage | HashtagHitPage | PlaceHitPage


@router.get("", response=SearchOut)
def search(
    request: HttpRequest,
    q: CleanStr | None = None,
    type: SearchType = "all",
    cursor: CleanStr | None = None,
    limit: int | None = None,
) -> HttpResponse:
    """``type=all``: the first page of each kind; one kind: keyset pages, best first."""
    query, size = search_text_parse(q), parse_limit(limit)
    if type == "all":
        if cursor:
            raise bad_request("invalid_cursor", "a cursor pages one type; pass type as well")
        found = selectors.search_all(viewer=request.user, query=query, limit=size)
        return json_response({kind: hits_of(kind, found[kind]) for kind in KINDS})
    result = selectors.search_kind_page(
        viewer=request.user, kind=type, query=query, cursor=cursor, limit=size
    )
    return json_response(hits_of(type, result))


@router.get("/suggest", response=SuggestList)
def search_suggest(request: HttpRequest, q: CleanStr | None = None) -> HttpResponse:
    """Typeahead: the top 8 users, hashtags and places whose name starts with ``q`` (hashtags
    and places: or holds it, from three characters). `#q` suggests hashtags only, `@q` users
    only; a sigil alone suggests nothing yet."""
    query = suggest_text_parse(q)
    rows = selectors.search_suggest(query=query) if query is not None else []
    return json_response({"items": [SuggestOut.of(row) for row in rows]})


@router.get("/trending", response=TrendingList)
def search_trending(request: HttpRequest) -> dict[str, Any]:
    """The most searched queries of the last 24 hours (cached for 5 minutes)."""
    return {"items": selectors.trending_list()}


@router.get("/history", auth=auth, response=HistoryPage)
def history_list(
    request: HttpRequest, cursor: CleanStr | None = None, limit: int | None = None
) -> dict[str, Any]:
    """The signed-in user's recent searches and clicks, deduplicated, newest first."""
    result = selectors.history_page(user=auth_user(request), cursor=cursor, limit=limit)
    return {**result, "items": [HistoryOut.of(entry) for entry in result["items"]]}


@router.post("/history", auth=auth, response={201: HistoryOut})
def history_record(request: HttpRequest, payload: HistoryIn) -> Status[HistoryOut]:
    """Record a committed search or a click on a result (typing alone records nothing)."""
    entry = services.history_record(user=auth_user(request), **payload.dict())
    return Status(201, HistoryOut.of(entry))


@router.delete("/history", auth=auth, response={204: None})
def history_clear(request: HttpRequest) -> Status[None]:
    services.history_clear(user=auth_user(request))
    return Status(204, None)


@router.delete("/history/{entry_id}", auth=auth, response={204: None})
def history_delete(request: HttpRequest, entry_id: PathId) -> Status[None]:
    services.history_delete(user=auth_user(request), entry_id=entry_id)
    return Status(204, None)


def _shaped(read: Callable[..., tuple[Any, dict[str, Any]]]) -> Callable[..., Any]:
    """A page read from SQL alone, with its posts as the response schema."""

    def shaped(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
        header, result = read(**kwargs)
        return header, {**result, "items": [PostOut.of(post) for post in result["items"]]}

    return shaped


@pages_router.get("/hashtags/{name}", response=HashtagPageOut)
def hashtag_page(
    request: HttpRequest,
    name: CleanStr,
    order: PageOrder = "top",
    cursor: CleanStr | None = None,
    limit: int | None = None,
) -> HttpResponse:
    """The hashtag's header and its top (by likes, among the newest 500) or recent posts."""
    # With Redis down, the all-SQL twin serves the same page (docs/reliability.md).
    read = selectors.hashtag_page if degrade.redis_up() else _shaped(selectors.hashtag_page_shaped)
    tag, result = read(viewer=request.user, name=name, order=order, cursor=cursor, limit=limit)
    return json_response({**result, "hashtag": HashtagHeader.of(tag), "order": order})


@pages_router.get("/places/{place_id}", response=PlacePageOut)
def place_page(
    request: HttpRequest,
    place_id: PathId,
    order: PageOrder = "top",
    cursor: CleanStr | None = None,
    limit: int | None = None,
) -> HttpResponse:
    """The place's header and its top (by likes, among the newest 500) or recent posts."""
    read = selectors.place_page if degrade.redis_up() else _shaped(selectors.place_page_shaped)
    place, result = read(
        viewer=request.user, place_id=place_id, order=order, cursor=cursor, limit=limit
    )
    return json_response({**result, "place": PlaceHeader.of(place), "order": order})
