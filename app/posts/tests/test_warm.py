"""The post detail and the profile grid served warm from Redis: no SQL for the detail, the
bodies SQL builds, privacy kept for every persona, and every write shown on the next request.

alice is private (the owner), bob follows her, charlie is a stranger; dave is public and
followed by nobody. Each write goes through the services with their on-commit effects run, as
in production, after the pages have been read twice (the first read fills Redis).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from app.accounts import services as accounts
from app.accounts.models import User
from app.lab.testing import assert_queries
from app.posts import selectors
from app.posts import services as posts
from app.posts.fragments import item_dict
from app.posts.models import Post
from app.posts.schemas import PostOut
from app.testing.client import ApiClient, login_client
from app.testing.data import posts_make
from app.testing.factories import UserFactory

# Who may see alice's (private) posts and grid.
PERSONAS = [("alice", True), ("bob", True), ("charlie", False), ("anon", False)]


class Scene:
    def __init__(self, alice: User, bob: User, charlie: User) -> None:
        self.users: dict[str, User | AnonymousUser] = {
            "alice": alice,
            "bob": bob,
            "charlie": charlie,
            "anon": AnonymousUser(),
        }
        self.alice, self.bob, self.charlie = alice, bob, charlie
        self.dave = UserFactory(username="dave")
        self.posts = posts_make(alice, 3, comments=2)
        self.daves = posts_make(self.dave, 2, hours_ago=1, comments=1)
        self.clients = {
            "alice": login_client(alice),
            "bob": login_client(bob),
            "charlie": login_client(charlie),
            "anon": ApiClient(),
        }

    def detail(self, who: str, post: Post) -> Any:
        return self.clients[who].get_json(f"/api/posts/{post.pk}")

    def grid(self, who: str, username: str = "alice") -> Any:
        return self.clients[who].get_json(f"/api/users/{username}/posts")

    def warm(self) -> None:
        """Two reads of every page by everyone: the second finds everything in Redis."""
        for _ in range(2):
            for who in self.clients:
                for post in [*self.posts, *self.daves]:
                    self.detail(who, post)
                self.grid(who)
                self.grid(who, "dave")


@pytest.fixture
def scene(alice: User, bob: User, charlie: User) -> Scene:
    made = Scene(alice, bob, charlie)
    made.warm()
    return made


def body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    parsed: dict[str, Any] = response.json()
    return parsed


def grid_ids(response: Any) -> list[int]:
    return [item["id"] for item in body(response)["items"]]


@pytest.mark.parametrize(("who", "sees"), PERSONAS)
def test_a_warm_detail_runs_no_sql_and_keeps_privacy(scene, who, sees):
    for post in scene.posts:
        with assert_queries(0):
            response = scene.detail(who, post)
        assert response.status_code == (200 if sees else 404)
        if not sees:
            assert response.json() == {"error": {"code": "not_found", "message": "post not found"}}
    with assert_queries(0):
        assert scene.detail(who, scene.daves[0]).status_code == 200


@pytest.mark.parametrize(("who", "sees"), PERSONAS)
def test_a_warm_grid_runs_one_query_and_keeps_privacy(scene, who, sees):
    # 1. the owner, the viewer's right to see the grid and the page's keys; bodies and flags
    # come from Redis.
    with assert_queries(1):
        response = scene.grid(who)
    assert response.status_code == (200 if sees else 404)
    if sees:
        assert grid_ids(response) == [post.pk for post in scene.posts]


def test_a_stranger_never_sees_a_private_post_cached_by_a_follower(alice, bob, charlie):
    post = posts_make(alice, 1)[0]
    bob_client, charlie_client = login_client(bob), login_client(charlie)
    for _ in range(2):
        assert bob_client.get_json(f"/api/posts/{post.pk}").status_code == 200
    charlie_client.get_json("/api/me")
    # The body is cached; charlie's following set is built (1. whom charlie follows): 404.
    with assert_queries(1):
        assert charlie_client.get_json(f"/api/posts/{post.pk}").status_code == 404
    with assert_queries(0):
        assert charlie_client.get_json(f"/api/posts/{post.pk}").status_code == 404
        assert ApiClient().get_json(f"/api/posts/{post.pk}").status_code == 404


@pytest.mark.parametrize(("who", "sees"), PERSONAS)
def test_cached_bodies_equal_the_sql_built_ones_field_by_field(scene, who, sees):
    viewer = scene.users[who]
    for post in [*scene.posts, *scene.daves] if sees else scene.daves:
        shaped = PostOut.of(selectors.post_detail(viewer=viewer, post_id=post.pk))
        assert body(scene.detail(who, post)) == item_dict(shaped)
    for username in ["alice", "dave"] if sees else ["dave"]:
        page = selectors.user_posts_page(viewer=viewer, username=username, cursor=None, limit=2)
        response = scene.clients[who].get_json(f"/api/users/{username}/posts", {"limit": 2})
        cached = body(response)
        assert cached["items"] == [item_dict(PostOut.of(post)) for post in page["items"]]
        assert cached["next_cursor"] == page["next_cursor"]


def test_like_and_unlike_show_on_the_next_request(scene, django_capture_on_commit_callbacks):
    post = scene.posts[0]
    with django_capture_on_commit_callbacks(execute=True):
        posts.like_set(user=scene.bob, post_id=post.pk, liked=True)
    detail = body(scene.detail("bob", post))
    assert (detail["viewer_has_liked"], detail["like_count"]) == (True, 1)
    assert body(scene.grid("bob"))["items"][0]["viewer_has_liked"] is True
    assert body(scene.grid("alice"))["items"][0]["like_count"] == 1
    assert body(scene.detail("alice", post))["viewer_has_liked"] is False
    with django_capture_on_commit_callbacks(execute=True):
        posts.like_set(user=scene.bob, post_id=post.pk, liked=False)
    detail = body(scene.detail("bob", post))
    assert (detail["viewer_has_liked"], detail["like_count"]) == (False, 0)
    assert body(scene.grid("bob"))["items"][0]["viewer_has_liked"] is False


def test_a_save_shows_on_the_next_request(scene, django_capture_on_commit_callbacks):
    post = scene.posts[1]
    with django_capture_on_commit_callbacks(execute=True):
        posts.save_set(user=scene.bob, post_id=post.pk, saved=True)
    assert body(scene.detail("bob", post))["viewer_has_saved"] is True
    saved = [item["viewer_has_saved"] for item in body(scene.grid("bob"))["items"]]
    assert saved == [False, True, False]
    assert body(scene.detail("alice", post))["viewer_has_saved"] is False


def test_a_comment_shows_on_the_next_request(scene, django_capture_on_commit_callbacks):
    post = scene.posts[2]
    with django_capture_on_commit_callbacks(execute=True):
        posts.comment_create(author=scene.bob, post_id=post.pk, text="lovely")
    for who in ("alice", "bob"):
        detail = body(scene.detail(who, post))
        assert (detail["comment_count"], detail["comments_preview"][0]["text"]) == (3, "lovely")
        assert body(scene.grid(who))["items"][2]["comments_preview"][0]["text"] == "lovely"


def test_a_delete_shows_on_the_next_request(scene, django_capture_on_commit_callbacks):
    post = scene.posts[0]
    with django_capture_on_commit_callbacks(execute=True):
        posts.post_delete(user=scene.alice, post_id=post.pk)
    for who in ("alice", "bob"):
        assert scene.detail(who, post).status_code == 404
        assert grid_ids(scene.grid(who)) == [p.pk for p in scene.posts[1:]]


def test_unfollow_and_follow_show_on_the_next_request(scene, django_capture_on_commit_callbacks):
    post = scene.posts[0]
    with django_capture_on_commit_callbacks(execute=True):
        accounts.follow_delete(follower=scene.bob, followee=scene.alice)
    assert scene.detail("bob", post).status_code == 404
    assert scene.grid("bob").status_code == 404
    # alice is private: following again is a request until she approves it.
    with django_capture_on_commit_callbacks(execute=True):
        assert accounts.follow_create(follower=scene.bob, followee=scene.alice) == "requested"
    assert scene.detail("bob", post).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        accounts.follow_request_approve(owner=scene.alice, requester=scene.bob)
    assert scene.detail("bob", post).status_code == 200
    assert grid_ids(scene.grid("bob")) == [p.pk for p in scene.posts]


def test_privacy_changes_show_before_the_bodies_are_dropped(
    scene, django_capture_on_commit_callbacks, monkeypatch
):
    """The job that drops the author's cached bodies has not run: the override decides."""
    monkeypatch.setattr("app.feed.services._enqueue", lambda job, **kwargs: None)
    with django_capture_on_commit_callbacks(execute=True):
        accounts.user_update_profile(user=scene.dave, is_private=True)
    for who in ("charlie", "anon", "bob"):
        assert scene.detail(who, scene.daves[0]).status_code == 404, who
        assert scene.grid(who, "dave").status_code == 404, who
    assert login_client(scene.dave).get_json(f"/api/posts/{scene.daves[0].pk}").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        accounts.user_update_profile(user=scene.alice, is_private=False)
    for who in ("charlie", "anon"):
        assert scene.detail(who, scene.posts[0]).status_code == 200, who
        assert grid_ids(scene.grid(who)) == [p.pk for p in scene.posts]
