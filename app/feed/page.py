"""The home feed's page: followed posts from the chosen strategy, with the recommender's
posts interleaved, and the cursor that pages both. ``feed_page`` is the feed's selector: it
asks the lab switch which strategy runs (app/feed/strategies.py holds them).

The feed owns its page; the recommender (app/recs) only answers which posts to suggest, by
rank (``recommended_posts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings

from app.accounts.models import User
from app.feed import strategies
from app.feed.selectors import After
from app.lab import strategies as lab_strategies
from app.lab.api import ApiError, bad_request, decode_cursor, encode_cursor, page, parse_limit
from app.posts.fragments import PostItem, item_recommended
from app.recs import selectors as recs


def interleave_every() -> int:
    """One recommended post per this many feed items (0 or 1: off)."""
    return int(settings.FEED_RECOMMENDED_EVERY)


def feed_cursor_decode(cursor: str | None) -> tuple[After, int]:
    """A feed cursor: (created_at, id) of the last followed post, plus, once interleaving
    is on, the next rank in the viewer's recommendations. Old two-part cursors stay valid."""
    if cursor is None or cursor == "":
        return None, 0
    try:
        created_at, post_id, rank = decode_cursor(cursor, (datetime, int, int)) or ()
    except ApiError:
        created_at, post_id = decode_cursor(cursor, (datetime, int)) or ()
        rank = 0
    if rank < 0:
        raise bad_request("invalid_cursor", "cursor is malformed or expired")
    return (created_at, post_id), rank


def feed_followed_slots(size: int) -> int:
    """How many of a feed page's ``size`` slots hold followed posts."""
    every = interleave_every()
    return size if every < 2 else size - size // every


def feed_interleave(
    *, viewer: User, items: Sequence[PostItem], size: int, rank: int
) -> dict[str, Any]:
    """The feed page: ``items`` (followed posts, up to ``size`` + 1) with one recommended
    post after every ``every - 1`` of them, marked ``reason="recommended"``.

    The keyset cursor stays the last *followed* post's (created_at, id): recommended posts
    never move it, so the followed sequence pages exactly as without them. The cursor also
    carries the next recommendation rank, so later pages continue the list instead of
    repeating it. Recommended posts come from accounts the viewer does not follow, so they
    can never duplicate a followed post.
    """
    every = interleave_every()
    if every < 2:
        return page(list(items), size, lambda item: (item.created_at, item.id))
    more = len(items) > size
    followed = items[:size]
    wanted = len(followed) // (every - 1)
    recommended = recs.recommended_posts(viewer=viewer, start=rank, count=wanted) if wanted else []
    queue = iter(recommended)
    merged: list[PostItem] = []
    for index, item in enumerate(followed):
        merged.append(item)
        if (index + 1) % (every - 1) == 0 and (pick := next(queue, None)) is not None:
            merged.append(item_recommended(pick[1]))
    next_rank = recommended[-1][0] + 1 if recommended else rank
    last = followed[-1] if followed else None
    next_cursor = (
        encode_cursor(last.created_at, last.id, next_rank) if more and last is not None else None
    )
    return {"items": merged, "next_cursor": next_cursor}


def feed_page(
    *, viewer: User, cursor: str | None, limit: int | None, strategy: str | None = None
) -> dict[str, Any]:
    """The home feed page: the one place a page is assembled, so recommended posts are
    interleaved here for every strategy. ``strategy`` overrides the request's choice."""
    size = parse_limit(limit)
    after, rank = feed_cursor_decode(cursor)
    name = lab_strategies.choose("feed", override=strategy)
    followed = feed_followed_slots(size)
    items = strategies.STRATEGIES[name](viewer=viewer, after=after, limit=followed + 1)
    return feed_interleave(viewer=viewer, items=items, size=followed, rank=rank)
