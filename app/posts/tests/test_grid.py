"""GET /api/users/{username}/posts: the profile grid, keyset newest first, private-aware."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from app.lab.testing import assert_queries
from app.posts import selectors
from app.posts.models import Post
from app.posts.schemas import PostOut
from app.testing.factories import CommentFactory, PostFactory, PostImageFactory


def posts_by(author, count: int) -> list[Post]:
    """``count`` posts one hour apart, newest first, each with two images and three comments."""
    now = timezone.now()
    made = []
    for index in range(count):
        post = PostFactory(author=author)
        Post.objects.filter(pk=post.pk).update(created_at=now - timedelta(hours=index))
        for position in range(2):
            PostImageFactory(post=post, position=position)
        for _ in range(3):
            CommentFactory(post=post)
        made.append(post)
    return made


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("alice_client", 200), ("bob_client", 200), ("charlie_client", 404), ("anon_client", 404)],
)
def test_it_shows_a_private_grid_to_the_owner_and_followers_only(
    request, alice, bob, viewer, status
):
    posts_by(alice, 3)
    response = request.getfixturevalue(viewer).get_json("/api/users/alice/posts")
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert len(body["items"]) == 3
        assert body["next_cursor"] is None
        assert {item["author"]["username"] for item in body["items"]} == {"alice"}
    else:
        assert response.json()["error"]["code"] == "not_found"


def test_it_shows_a_public_grid_to_anyone_and_only_that_users_posts(charlie, alice, anon_client):
    mine = posts_by(charlie, 2)
    posts_by(alice, 2)
    body = anon_client.get_json("/api/users/CHARLIE/posts").json()
    assert [item["id"] for item in body["items"]] == [p.pk for p in mine]
    assert all(len(item["images"]) == 2 for item in body["items"])
    assert all(len(item["comments_preview"]) == 2 for item in body["items"])


# A NUL is a 400 naming the field, like every control character (app/lab/tests/test_bad_input).
@pytest.mark.parametrize("username", ["nobody", "a" * 300, "..", "%F0%9F%98%80"])
def test_it_404s_an_unknown_or_impossible_user(anon_client, db, username):
    response = anon_client.get_json(f"/api/users/{username}/posts")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_pages_newest_first_without_gaps_or_repeats(charlie, anon_client):
    made = posts_by(charlie, 7)
    # Page one ends on made[2]; made[3] shares its instant, so only the id separates them.
    Post.objects.filter(pk=made[3].pk).update(created_at=Post.objects.get(pk=made[2].pk).created_at)
    expected = sorted(
        Post.objects.filter(author=charlie).values_list("created_at", "id"), reverse=True
    )

    seen, cursor = [], None
    for _ in range(3):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = anon_client.get_json("/api/users/charlie/posts", params).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert cursor is None
    assert seen == [post_id for _, post_id in expected]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 51},
        {"limit": "x"},
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJub3QgYSBkYXRlIiwgMV0"},
    ],
)
def test_it_rejects_bad_list_parameters(charlie, anon_client, params):
    response = anon_client.get_json("/api/users/charlie/posts", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {
        "invalid_limit",
        "invalid_cursor",
        "invalid_request",
    }


@pytest.mark.parametrize("count", [2, 20])
def test_user_posts_page_query_count_does_not_grow_with_the_page(alice, bob, count):
    posts_by(alice, count)

    # 1. the profile owner by username
    # 2. user_can_view_content: does bob follow alice?
    # 3. the page of posts with author and place, viewer_has_liked/saved as EXISTS
    # 4. prefetch: images of every post on the page
    # 5. prefetch: two newest comments per post with authors (one window query)
    with assert_queries(5):
        result = selectors.user_posts_page(viewer=bob, username="alice", cursor=None, limit=20)
        items = [PostOut.of(post) for post in result["items"]]
    assert len(items) == count
    assert all(len(item.images) == 2 and len(item.comments_preview) == 2 for item in items)


@pytest.mark.parametrize("count", [2, 20])
def test_the_grid_endpoint_query_count_is_constant(alice, bob_client, count):
    posts_by(alice, count)
    bob_client.get_json("/api/me")  # warm the session and user caches

    # Cold: 1. the owner, bob's right to see the grid and the page's keys (one statement);
    # 2. the bodies Redis lacks, with bob's flags; 3. their images; 4. their comment previews.
    with assert_queries(4):
        assert len(bob_client.get_json("/api/users/alice/posts").json()["items"]) == count
    # Warm: 1. the owner, visibility and keys; bodies and bob's flags come from Redis.
    with assert_queries(1):
        response = bob_client.get_json("/api/users/alice/posts")
    assert len(response.json()["items"]) == count
