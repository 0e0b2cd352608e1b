"""API shapes for search results, typeahead, history, trending and hashtag/place pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from django.core.files.storage import default_storage
from ninja import Field, Schema

from app.accounts.schemas import UserSummary
from app.core.text import CleanStr
from app.lab.api import RawJSON
from app.posts.models import Hashtag, Place
from app.posts.schemas import PlaceOut, PostOut
from app.search.models import QUERY_MAX, SearchQuery

SearchType = Literal["all", "users", "posts", "hashtags", "places"]
PageOrder = Literal["top", "recent"]


def _url(name: str | None) -> str | None:
    return default_storage.url(name) if name else None


class UserHit(Schema):
    id: int
    username: str
    name: str
    avatar_url: str | None
    is_private: bool
    follower_count: int
    viewer_follows: bool

    @staticmethod
    def of(row: dict[str, Any]) -> UserHit:
        # Typed columns straight from one statement: no validation (it was a fifth of a
        # type=all request's CPU, docs/experiments/search.md).
        return UserHit.model_construct(
            id=row["id"],
            username=row["username"],
            name=row["name"],
            avatar_url=_url(row["avatar"]),
            is_private=row["is_private"],
            follower_count=row["follower_count"],
            viewer_follows=row["viewer_follows"],
        )


class PostHit(Schema):
    """A search result tile: one query renders it (first image's thumbnail, no previews)."""

    id: int
    author: UserSummary
    caption: str
    thumb_url: str | None
    place: PlaceOut | None
    like_count: int
    comment_count: int
    created_at: datetime

    @staticmethod
    def of(row: dict[str, Any]) -> PostHit:
        return PostHit.model_construct(
            id=row["id"],
            author=UserSummary.model_construct(
                id=row["author_id"],
                username=row["author_username"],
                name=row["author_name"],
                avatar_url=_url(row["author_avatar"]),
                is_private=row["author_is_private"],
            ),
            caption=row["caption"],
            thumb_url=_url(row["thumb"]),
            place=(
                PlaceOut.model_construct(id=row["place_id"], name=row["place_name"])
                if row["place_id"]
                else None
            ),
            like_count=row["like_count"],
            comment_count=row["comment_count"],
            created_at=row["created_at"],
        )


class HashtagHit(Schema):
    id: int
    name: str
    post_count: int
    last_used_at: datetime | None

    @staticmethod
    def of(row: dict[str, Any]) -> HashtagHit:
        return HashtagHit.model_construct(
            id=row["id"],
            name=row["name"],
            post_count=row["post_count"],
            last_used_at=row["last_used_at"],
        )


class PlaceHit(Schema):
    id: int
    name: str
    address: str
    post_count: int

    @staticmethod
    def of(row: dict[str, Any]) -> PlaceHit:
        return PlaceHit.model_construct(
            id=row["id"], name=row["name"], address=row["address"], post_count=row["post_count"]
        )


HIT_SCHEMAS: dict[str, Any] = {
    "users": UserHit,
    "posts": PostHit,
    "hashtags": HashtagHit,
    "places": PlaceHit,
}


def hits_of(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """A selector page of rows as a list body of ``kind``'s hit schema."""
    schema = HIT_SCHEMAS[kind]
    return {
        "items": [schema.of(row) for row in result["items"]],
        "next_cursor": result["next_cursor"],
    }


def posts_of(result: dict[str, Any]) -> dict[str, Any]:
    """A selector page of posts (from ``post_queryset``) as a list body of ``PostOut``."""
    return {
        "items": [PostOut.of(post) for post in result["items"]],
        "next_cursor": result["next_cursor"],
    }


class UserHitPage(Schema):
    items: list[UserHit]
    next_cursor: str | None


class PostHitPage(Schema):
    items: list[PostHit]
    next_cursor: str | None


class HashtagHitPage(Schema):
    items: list[HashtagHit]
    next_cursor: str | None


class PlaceHitPage(Schema):
    items: list[PlaceHit]
    next_cursor: str | None


class SearchAllOut(Schema):
    """``type=all``: each kind's first page; page on with ``type=<kind>&cursor=...``."""

    users: UserHitPage
    posts: PostHitPage
    hashtags: HashtagHitPage
    places: PlaceHitPage


class SuggestJSON(RawJSON):
    """One typeahead item that is already the JSON the API sends (the cached path's)."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def fragment(self) -> orjson.Fragment:
        return orjson.Fragment(self.body)


class SuggestOut(Schema):
    kind: Literal["user", "hashtag", "place"]
    id: int
    text: str
    detail: str
    image_url: str | None

    @staticmethod
    def of(row: dict[str, Any] | SuggestJSON) -> SuggestOut | SuggestJSON:
        if isinstance(row, SuggestJSON):
            return row  # rendered when it was cached
        return SuggestOut.model_construct(
            kind=row["kind"],
            id=row["id"],
            text=row["text"],
            detail=row["detail"],
            image_url=_url(row["image"]),
        )


class SuggestList(Schema):
    items: list[SuggestOut]


class HistoryIn(Schema):
    """A committed search (``kind=query``) or a click on a result (``kind=click``)."""

    query: CleanStr = Field(min_length=1, max_length=QUERY_MAX * 4)
    kind: Literal["query", "click"] = "query"
    target_type: Literal["user", "post", "hashtag", "place"] | None = None
    target_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class HistoryOut(Schema):
    id: int
    query: str
    kind: str
    target_type: str | None
    target_id: int | None
    created_at: datetime

    @staticmethod
    def of(entry: SearchQuery) -> HistoryOut:
        return HistoryOut(
            id=entry.pk,
            query=entry.query,
            kind=entry.kind,
            target_type=entry.target_type or None,
            target_id=entry.target_id,
            created_at=entry.created_at,
        )


class HistoryPage(Schema):
    items: list[HistoryOut]
    next_cursor: str | None


class TrendingOut(Schema):
    query: str
    searches: int


class TrendingList(Schema):
    items: list[TrendingOut]


class HashtagHeader(Schema):
    id: int
    name: str
    post_count: int
    last_used_at: datetime | None

    @staticmethod
    def of(tag: Hashtag) -> HashtagHeader:
        return HashtagHeader(
            id=tag.pk, name=tag.name, post_count=tag.post_count, last_used_at=tag.last_used_at
        )


class PlaceHeader(Schema):
    id: int
    name: str
    address: str
    latitude: float
    longitude: float
    post_count: int

    @staticmethod
    def of(place: Place) -> PlaceHeader:
        return PlaceHeader(
            id=place.pk,
            name=place.name,
            address=place.address,
            latitude=float(place.latitude),
            longitude=float(place.longitude),
            post_count=place.post_count,
        )


class HashtagPageOut(Schema):
    hashtag: HashtagHeader
    order: PageOrder
    items: list[PostOut]
    next_cursor: str | None


class PlacePageOut(Schema):
    place: PlaceHeader
    order: PageOrder
    items: list[PostOut]
    next_cursor: str | None
