"""Recommended posts interleaved into the home feed, for every feed strategy."""

from __future__ import annotations

from typing import Any

import pytest

from app.feed.page import feed_page
from app.lab.api import encode_cursor
from app.posts.fragments import item_dict
from app.testing.data import follow, posts_make
from app.testing.factories import UserFactory
from app.testing.recs import list_publish

STRATEGIES = ("naive", "optimized", "cached")


@pytest.fixture
def interleaved(settings):
    settings.FEED_RECOMMENDED_EVERY = 5


@pytest.fixture
def scene(alice, bob):
    """bob follows alice (12 posts) and has 10 recommendations from strangers."""
    followed = posts_make(alice, 12, comments=0)
    strangers = [UserFactory(username=f"stranger{i}") for i in range(2)]
    recommended = [p for s in strangers for p in posts_make(s, 5, hours_ago=3, comments=0)]
    list_publish(bob, [p.pk for p in recommended])
    return {"followed": followed, "recommended": recommended}


def walk(viewer, strategy: str, limit: int) -> list[list[dict[str, Any]]]:
    result, cursor = [], None
    while True:
        page = feed_page(viewer=viewer, cursor=cursor, limit=limit, strategy=strategy)
        result.append([item_dict(item) for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return result


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_puts_one_recommended_post_in_every_five(interleaved, bob, scene, strategy):
    page = feed_page(viewer=bob, cursor=None, limit=10, strategy=strategy)["items"]
    reasons = [item.reason for item in page]
    assert reasons == [None] * 4 + ["recommended"] + [None] * 4 + ["recommended"]
    assert [item.id for item in page if item.reason] == [p.pk for p in scene["recommended"][:2]]
    assert [item.id for item in page if not item.reason] == [p.pk for p in scene["followed"][:8]]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_paging_keeps_the_followed_sequence_and_never_repeats(
    interleaved, settings, bob, scene, strategy
):
    pages = walk(bob, strategy, limit=5)
    items = [item for page in pages for item in page]
    followed = [item["id"] for item in items if item["reason"] is None]
    recommended = [item["id"] for item in items if item["reason"] == "recommended"]
    # Every followed post exactly once, in order, as without interleaving.
    settings.FEED_RECOMMENDED_EVERY = 0
    plain = [item["id"] for page in walk(bob, strategy, limit=4) for item in page]
    assert followed == plain == [p.pk for p in scene["followed"]]
    # One recommendation per 4 followed posts, continuing the list page after page.
    assert recommended == [p.pk for p in scene["recommended"][:3]]
    assert not set(followed) & set(recommended)


def test_every_strategy_interleaves_the_same_pages(interleaved, bob, scene):
    expected = walk(bob, "optimized", limit=5)
    assert walk(bob, "naive", limit=5) == expected
    assert walk(bob, "cached", limit=5) == expected


def test_it_never_recommends_a_followed_authors_post(interleaved, bob, scene):
    stranger = scene["recommended"][0].author
    follow(bob, stranger)
    items = [item for page in walk(bob, "cached", limit=5) for item in page]
    recommended = [item for item in items if item["reason"] == "recommended"]
    assert recommended
    assert all(item["author"]["id"] != stranger.pk for item in recommended)
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))


def test_a_two_part_cursor_still_pages(interleaved, bob, scene):
    fifth = scene["followed"][4]
    old = encode_cursor(fifth.created_at, fifth.pk)
    page = feed_page(viewer=bob, cursor=old, limit=5, strategy="optimized")["items"]
    assert [item.id for item in page if not item.reason] == [p.pk for p in scene["followed"][5:9]]


def test_it_is_off_at_zero(settings, bob, scene):
    settings.FEED_RECOMMENDED_EVERY = 0
    page = feed_page(viewer=bob, cursor=None, limit=10, strategy="optimized")["items"]
    assert all(item.reason is None for item in page)
    assert len(page) == 10


def test_the_api_marks_recommended_posts(interleaved, bob, bob_client, scene):
    body = bob_client.get_json("/api/feed", {"limit": 5}).json()
    assert [item["reason"] for item in body["items"]] == [None] * 4 + ["recommended"]
