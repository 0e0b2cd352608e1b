"""Post bodies as ready-to-send JSON bytes, shared by every viewer, with the viewer's fields
appended on the way out.

A cached feed page used to unpickle ~200 nested pydantic objects, copy each to set the
viewer's flags, dump them back to dicts and encode those: a quarter of its CPU
(docs/experiments/hotpaths.md). A fragment is instead stored as the post's JSON object with
its last brace cut off, behind a small fixed header; serving it is a slice and a join.

Stored layout: ``>QqB`` (author id, created_at in microseconds since the epoch, 1 if the
author was private when it was written), then the JSON of :class:`PostOut` without
``viewer_has_liked``, ``viewer_has_saved`` and ``reason``, and without its closing brace.
The JSON is made by the same encoder as every API response, so a body served from bytes is
the one the ``optimized`` strategy sends, field for field (tests compare them).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from app.lab.api import RawJSON, json_bytes
from app.posts.schemas import PostOut

_HEADER = struct.Struct(">QqB")
VIEWER_FIELDS = frozenset({"viewer_has_liked", "viewer_has_saved", "reason"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
Reason = Literal["recommended"] | None


def _tail(liked: bool, saved: bool, reason: Reason) -> bytes:
    return json_bytes(
        {"viewer_has_liked": liked, "viewer_has_saved": saved, "reason": reason}
    ).replace(b"{", b",", 1)


# Every combination of the viewer's fields, encoded once.
_TAILS: dict[tuple[bool, bool, Reason], bytes] = {
    (liked, saved, reason): _tail(liked, saved, reason)
    for liked in (False, True)
    for saved in (False, True)
    for reason in (None, "recommended")
}


class PostJSON(RawJSON):
    """One post as the API sends it, for one viewer: the shared bytes plus three fields."""

    __slots__ = ("author_id", "author_private", "body", "id", "liked", "micros", "reason", "saved")

    def __init__(
        self,
        *,
        id: int,
        author_id: int,
        author_private: bool,
        micros: int,
        body: bytes,
        liked: bool = False,
        saved: bool = False,
        reason: Reason = None,
    ) -> None:
        self.id = id
        self.author_id = author_id
        self.author_private = author_private
        self.micros = micros
        self.body = body
        self.liked = liked
        self.saved = saved
        self.reason = reason

    @property
    def created_at(self) -> datetime:
        return _EPOCH + self.micros * _MICROSECOND

    def viewed(self, *, liked: bool, saved: bool, reason: Reason = None) -> PostJSON:
        """The same post with one viewer's fields."""
        return PostJSON(
            id=self.id,
            author_id=self.author_id,
            author_private=self.author_private,
            micros=self.micros,
            body=self.body,
            liked=liked,
            saved=saved,
            reason=reason,
        )

    def fragment(self) -> orjson.Fragment:
        return orjson.Fragment(self.body + _TAILS[self.liked, self.saved, self.reason])


def fragment_encode(post: PostOut) -> bytes:
    """The stored bytes of a post body (its viewer fields are dropped)."""
    body = json_bytes(post.model_dump(exclude=set(VIEWER_FIELDS)))
    micros = (post.created_at - _EPOCH) // _MICROSECOND
    return _HEADER.pack(post.author.id, micros, int(post.author.is_private)) + body[:-1]


def fragment_valid(raw: bytes) -> bool:
    """Is ``raw`` a body in this layout (a header, then a JSON object)? Anything else in a
    fragment key (a copy left by an older layout) is treated as a miss and rewritten."""
    return len(raw) > _HEADER.size and raw[_HEADER.size] == 0x7B  # "{"


def fragment_decode(post_id: int, raw: bytes) -> PostJSON:
    author_id, micros, private = _HEADER.unpack_from(raw)
    return PostJSON(
        id=post_id,
        author_id=author_id,
        author_private=bool(private),
        micros=micros,
        body=raw[_HEADER.size :],
    )


# What a feed strategy returns: pydantic bodies (the baselines) or bytes (the cached path).
PostItem = PostOut | PostJSON


def item_recommended(item: PostItem) -> PostItem:
    """The item marked as interleaved from the recommender."""
    if isinstance(item, PostJSON):
        return item.viewed(liked=item.liked, saved=item.saved, reason="recommended")
    return item.model_copy(update={"reason": "recommended"})


def item_dict(item: PostItem) -> dict[str, Any]:
    """The item as the client receives it (parsed JSON): how tests compare strategies."""
    parsed: dict[str, Any] = orjson.loads(json_bytes(item))
    return parsed
