"""Recommendations on a warm page come from Redis alone, and every write shows on the next one.

The filter that SQL applies (not deleted, own, private, followed or liked; the saved flag)
is applied on a warm page from the cached bodies, the viewer's following set and flags, and
the privacy overrides. Each test warms the page, makes one change through the services (with
their on-commit effects run, as in production), and reads the next page.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from app.accounts import services as accounts
from app.lab.testing import assert_queries
from app.posts import services as posts
from app.posts import viewcache
from app.posts.fragments import item_dict
from app.posts.schemas import PostOut
from app.posts.selectors import post_queryset
from app.testing.client import login_client
from app.testing.data import posts_make
from app.testing.factories import UserFactory
from app.testing.recs import list_publish


@pytest.fixture
def scene(charlie, django_capture_on_commit_callbacks):
    """Charlie's ranked list: six public posts by dave and erin, whom charlie does not follow."""
    dave, erin = UserFactory(username="dave"), UserFactory(username="erin")
    made = posts_make(dave, 3, comments=1) + posts_make(erin, 3, hours_ago=1, comments=0)
    list_publish(charlie, [p.pk for p in made])
    client = login_client(charlie)
    for _ in range(2):  # the first read fills the bodies, the flags and the following set
        client.get_json("/api/explore")
    return {"client": client, "posts": made, "dave": dave, "erin": erin}


def shown(client) -> list[dict[str, Any]]:
    response = client.get_json("/api/explore", {"limit": 50})
    assert response.status_code == 200, response.content
    return response.json()["items"]


def shown_ids(client) -> list[int]:
    return [item["id"] for item in shown(client)]


def test_a_warm_explore_page_runs_no_sql(scene):
    with assert_queries(0):
        response = scene["client"].get_json("/api/explore")
    assert len(response.json()["items"]) == 6


def test_a_warm_home_feed_with_recommendations_runs_no_sql(scene, charlie, settings):
    settings.FEED_RECOMMENDED_EVERY = 2
    posts_make(charlie, 4, comments=0)  # charlie's own posts are in the home feed
    client = scene["client"]
    client.get_json("/api/feed")
    with assert_queries(0):
        items = client.get_json("/api/feed").json()["items"]
    assert [item["reason"] for item in items] == [None, "recommended"] * 4


def test_bytes_bodies_equal_freshly_built_ones_field_by_field(scene, charlie):
    for item in shown(scene["client"]):
        post = post_queryset(viewer=charlie).get(pk=item["id"])
        assert item == item_dict(PostOut.of(post))


def test_like_and_unlike_show_at_once(scene, charlie, django_capture_on_commit_callbacks):
    target = scene["posts"][0].pk
    with django_capture_on_commit_callbacks(execute=True):
        posts.like_set(user=charlie, post_id=target, liked=True)
    assert target not in shown_ids(scene["client"])
    with django_capture_on_commit_callbacks(execute=True):
        posts.like_set(user=charlie, post_id=target, liked=False)
    assert target in shown_ids(scene["client"])


def test_a_save_shows_at_once(scene, charlie, django_capture_on_commit_callbacks):
    target = scene["posts"][1].pk
    with django_capture_on_commit_callbacks(execute=True):
        posts.save_set(user=charlie, post_id=target, saved=True)
    saved = {item["id"]: item["viewer_has_saved"] for item in shown(scene["client"])}
    assert saved[target] is True
    assert sum(saved.values()) == 1


def test_a_comment_shows_at_once(scene, django_capture_on_commit_callbacks):
    target = scene["posts"][2]
    with django_capture_on_commit_callbacks(execute=True):
        posts.comment_create(author=scene["erin"], post_id=target.pk, text="lovely")
    (item,) = [item for item in shown(scene["client"]) if item["id"] == target.pk]
    assert item["comments_preview"][0]["text"] == "lovely"
    assert item["comment_count"] == 2


def test_a_deleted_post_goes_at_once_and_stays_out_without_sql(
    scene, django_capture_on_commit_callbacks
):
    target = scene["posts"][3].pk
    with django_capture_on_commit_callbacks(execute=True):
        posts.post_delete(user=scene["erin"], post_id=target)
    assert target not in shown_ids(scene["client"])
    # The list still names it: Redis remembers it is gone, so the page stays warm.
    with assert_queries(0):
        assert target not in shown_ids(scene["client"])


def test_follow_and_unfollow_show_at_once(scene, charlie, django_capture_on_commit_callbacks):
    daves = {post.pk for post in scene["posts"][:3]}
    with django_capture_on_commit_callbacks(execute=True):
        accounts.follow_create(follower=charlie, followee=scene["dave"])
    assert not daves & set(shown_ids(scene["client"]))
    with django_capture_on_commit_callbacks(execute=True):
        accounts.follow_delete(follower=charlie, followee=scene["dave"])
    assert daves <= set(shown_ids(scene["client"]))


def test_an_author_turning_private_goes_before_the_bodies_are_dropped(
    scene, django_capture_on_commit_callbacks, monkeypatch
):
    """The job that drops the author's cached bodies has not run yet: the override decides."""
    monkeypatch.setattr("app.feed.services._enqueue", lambda job, **kwargs: None)
    erins = {post.pk for post in scene["posts"][3:]}
    with django_capture_on_commit_callbacks(execute=True):
        accounts.user_update_profile(user=scene["erin"], is_private=True)
    assert not erins & set(shown_ids(scene["client"]))
    with django_capture_on_commit_callbacks(execute=True):
        accounts.user_update_profile(user=scene["erin"], is_private=False)
    assert erins <= set(shown_ids(scene["client"]))


def test_anonymous_bodies_carry_no_viewer_state(scene):
    post = post_queryset(viewer=AnonymousUser()).get(pk=scene["posts"][0].pk)
    body = item_dict(PostOut.of(post))
    assert (body["viewer_has_liked"], body["viewer_has_saved"], body["reason"]) == (
        False,
        False,
        None,
    )


def test_a_fragment_in_another_layout_is_rewritten_not_served(scene, charlie, settings):
    """A copy left in a fragment key by an older layout (here a pickle) must never reach a
    response as bytes: every reader treats it as a miss and rewrites it."""
    settings.FEED_RECOMMENDED_EVERY = 2
    conn = viewcache.connection()
    stale = b"\x80\x04\x95 pickled PostOut"
    targets = [post.pk for post in scene["posts"]]
    for post_id in targets:
        conn.set(cache.make_key(viewcache.fragment_key(post_id)), stale)
    client = scene["client"]
    explore = client.get_json("/api/explore")
    feed = client.get_json("/api/feed")
    detail = client.get_json(f"/api/posts/{targets[0]}")
    for response in (explore, feed, detail):
        assert response.status_code == 200
        json.loads(response.content)  # valid JSON, not pickle bytes
    assert {item["id"] for item in explore.json()["items"]} == set(targets)
    assert all(conn.get(cache.make_key(viewcache.fragment_key(pk))) != stale for pk in targets)
