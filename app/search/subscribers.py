"""Search keeps its hashtag and place windows in step with the writes of posts and accounts.

The windows (app/search/windows.py) cache each hashtag's and place's top and recent pages.
They subscribe to the domain events (app/core/events.py) and drop what a write made stale,
once it commits, as named outbox effects (app/core/outbox.py): when Redis cannot take one,
it waits in PostgreSQL and is replayed, so no window outlives the write that changed it.
"""

from __future__ import annotations

from app.core import events, outbox
from app.search import windows


@outbox.effect("search.post_scopes_changed")
def _post_scopes_changed(*, post_id: int) -> None:
    # The windows of the post's hashtags and place (one query).
    windows.post_scopes_changed(post_id=post_id)


@outbox.effect("search.all_changed")
def _all_changed() -> None:
    windows.all_changed()


def _scopes_of(post_id: int) -> None:
    outbox.after_commit("search.post_scopes_changed", post_id=post_id)


def _all() -> None:
    outbox.after_commit("search.all_changed")


def subscribe_all() -> None:
    """SearchConfig.ready: a new post or a like changes its hashtags' and place's windows;
    a deleted post (its hashtag rows are gone) or an author's privacy or name, all of them."""
    events.subscribe(events.PostCreated, lambda e: _scopes_of(e.post_id))
    events.subscribe(events.LikeChanged, lambda e: _scopes_of(e.post_id))
    events.subscribe(events.PostDeleted, lambda e: _all())
    events.subscribe(events.AuthorChanged, lambda e: _all())
