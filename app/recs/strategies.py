"""The explore path's strategies side by side: ``als`` and ``popular``, one signature.

Each returns the viewer's ranked candidate post ids, at least the first ``need`` of them
when there are that many (a longer list is fine); read-time filtering (deleted, private,
own, followed, liked) happens afterwards in ``selectors.explore_items`` for both alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from app.lab.strategies import HotPath
from app.recs import serving
from app.recs.data import user_recent_interactions


class ExploreStrategy(Protocol):
    def __call__(self, *, viewer_id: int, need: int) -> list[int]:
        """The viewer's ranked candidate post ids, at least the first ``need`` if there are."""
        ...


TOP_N = 200
# A user with no activity yet gets a fold-in retry after a minute, not an hour.
EMPTY_FOLD_IN_TTL = 60


def personal_list(*, viewer_id: int) -> list[int]:
    """The viewer's ALS ranking: precomputed at training, else folded in from their recent
    activity (kept for an hour, so the next pages read the same list), else empty."""
    live, found = serving.live_list(user_id=viewer_id)
    if found is not None:
        return found
    version = live if live is not None else serving.version_serving()
    if version is None:
        return []
    if live is None:
        # No live pointer (Redis emptied): the latest trained version, looked up sparingly.
        found = serving.user_list(version=version, user_id=viewer_id)
        if found is not None:
            return found
    model = serving.model_current()
    if model is None:
        return []
    ranked = model.fold_in(user_recent_interactions(user_id=viewer_id), n=TOP_N)
    ttl = serving.FOLD_IN_TTL if ranked else EMPTY_FOLD_IN_TTL
    serving.lists_write(version=model.version, user_ids=[viewer_id], lists=[ranked], ttl=ttl)
    return ranked


def popular(*, viewer_id: int, need: int) -> list[int]:
    """Time-decayed engagement, the same list for everyone (cached, stampede-protected)."""
    return serving.popular_ids()


def als(*, viewer_id: int, need: int) -> list[int]:
    """The viewer's ALS list, then popular posts it lacks: a cold-start user (no list, no
    activity to fold in) gets exactly ``popular``, and a long scroll never runs dry. The
    popular tail is read only when ``need`` reaches past the personal list: merging 500
    popular ids on every home-feed page cost more than ranking it (docs/experiments/hotpaths.md)."""
    personal = personal_list(viewer_id=viewer_id)
    if len(personal) >= need:
        return personal
    seen = set(personal)
    return personal + [post_id for post_id in serving.popular_ids() if post_id not in seen]


# The default (the best one) first.
STRATEGIES: Mapping[str, ExploreStrategy] = {"als": als, "popular": popular}
# The catalogue's entry (app/lab/strategies.py); without Redis, popular is computed in SQL.
HOT_PATH = HotPath("explore", STRATEGIES, without_redis={"als": "popular"})
