"""Every strategy returns the same pages, before and after likes, deletes and follows."""

from __future__ import annotations

from typing import Any

import pytest

from app.accounts import services as accounts
from app.feed.page import feed_page
from app.feed.strategies import HOT_PATH, STRATEGIES
from app.posts import services as posts
from app.posts.fragments import item_dict
from app.posts.models import Post
from app.testing.data import follow, posts_make, user_make


def pages(viewer, strategy: str, limit: int = 4) -> list[list[dict[str, Any]]]:
    """Every page of ``viewer``'s feed, each as the JSON the API would send."""
    result, cursor = [], None
    while True:
        page = feed_page(viewer=viewer, cursor=cursor, limit=limit, strategy=strategy)
        result.append([item_dict(item) for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return result


def assert_all_equal(viewers) -> list[list[dict[str, Any]]]:
    """Compare every strategy for every viewer; cached runs twice (cold, then warm)."""
    for viewer in viewers:
        expected = pages(viewer, "optimized")
        assert pages(viewer, "naive") == expected, viewer.username
        assert pages(viewer, "cached") == expected, viewer.username
        assert pages(viewer, "cached") == expected, viewer.username
    return expected


@pytest.fixture
def world(alice, bob, charlie):
    """alice private (bob follows); erin popular (bob, charlie and dave follow her)."""
    dave, erin = user_make("dave"), user_make("erin")
    for follower in (bob, charlie, dave):
        follow(follower, erin)
    follow(dave, bob)
    made = {
        "alice": posts_make(alice, 4, hours_ago=1),
        "bob": posts_make(bob, 3, hours_ago=2),
        "charlie": posts_make(charlie, 2, hours_ago=3),
        "dave": posts_make(dave, 2, hours_ago=0),
        "erin": posts_make(erin, 6, hours_ago=0),
    }
    # A tie on (created_at) across authors, right where pages of 4 break.
    Post.objects.filter(pk=made["erin"][3].pk).update(created_at=made["alice"][0].created_at)
    for viewer in (alice, bob, charlie, dave, erin):
        viewer.refresh_from_db()
    return {"users": [alice, bob, charlie, dave, erin], "posts": made}


@pytest.mark.parametrize(
    ("threshold", "cap"),
    [(1000, 800), (1, 800), (1000, 3)],
    ids=["push-only", "celebrities-pulled", "timeline-capped"],
)
def test_every_strategy_returns_the_same_pages_through_changes(
    settings, world, committed, threshold, cap
):
    settings.FEED_FANOUT_THRESHOLD = threshold
    settings.FEED_TIMELINE_CAP = cap
    _, bob, charlie, dave, erin = world["users"]
    made = world["posts"]
    before = assert_all_equal(world["users"])
    assert sum(len(page) for page in before) > 0

    with committed():
        posts.like_set(user=bob, post_id=made["alice"][0].pk, liked=True)
        posts.like_set(user=charlie, post_id=made["erin"][0].pk, liked=True)
        posts.like_set(user=bob, post_id=made["erin"][0].pk, liked=True)
        posts.like_set(user=bob, post_id=made["erin"][0].pk, liked=False)
        posts.save_set(user=dave, post_id=made["erin"][1].pk, saved=True)
        posts.comment_create(author=charlie, post_id=made["erin"][1].pk, text="first!")
        posts.post_delete(user=erin, post_id=made["erin"][2].pk)
        accounts.follow_create(follower=charlie, followee=dave)
        accounts.follow_delete(follower=bob, followee=erin)
        accounts.user_update_profile(user=dave, name="Dave Renamed", is_private=True)

    for user in world["users"]:
        user.refresh_from_db()
    assert_all_equal(world["users"])

    charlies = [item for page in pages(charlie, "cached") for item in page]
    by_id = {item["id"]: item for item in charlies}
    assert by_id[made["erin"][0].pk]["like_count"] == 1
    assert by_id[made["erin"][0].pk]["viewer_has_liked"] is True
    assert by_id[made["erin"][1].pk]["comments_preview"][0]["text"] == "first!"
    assert made["erin"][2].pk not in by_id
    assert {item["author"]["username"] for item in charlies} == {"charlie", "erin", "dave"}
    assert by_id[made["dave"][0].pk]["author"]["name"] == "Dave Renamed"
    assert by_id[made["dave"][0].pk]["author"]["is_private"] is True
    bobs = {item["author"]["username"] for page in pages(bob, "cached") for item in page}
    assert bobs == {"alice", "bob"}
    daves = {item["id"]: item for page in pages(dave, "cached") for item in page}
    assert daves[made["erin"][1].pk]["viewer_has_saved"] is True
    assert daves[made["erin"][0].pk]["viewer_has_liked"] is False


def test_the_catalogue_and_the_implementations_agree():
    from app.lab.strategies import catalogue

    assert catalogue()["feed"] is HOT_PATH
    assert HOT_PATH.strategies is STRATEGIES
    assert HOT_PATH.names == ("cached", "optimized", "naive")
