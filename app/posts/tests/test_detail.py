"""GET /api/posts/{id}: the PostOut shape, privacy, and a constant query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from app.lab.api import ApiError
from app.lab.testing import assert_queries
from app.posts import selectors
from app.posts.models import Comment
from app.posts.schemas import PostOut
from app.testing.factories import (
    CommentFactory,
    LikeFactory,
    PlaceFactory,
    PostFactory,
    PostImageFactory,
    SaveFactory,
)


def post_with(author, *, images: int, comments: int, likes: int):
    post = PostFactory(author=author, place=PlaceFactory(), caption="hi #tag @bob")
    for position in range(images):
        PostImageFactory(post=post, position=position)
    now = timezone.now()
    for index in range(comments):
        comment = CommentFactory(post=post)
        # Distinct, known times: comment N is N minutes old, so the two newest are 0 and 1.
        Comment.objects.filter(pk=comment.pk).update(created_at=now - timedelta(minutes=index))
    for _ in range(likes):
        LikeFactory(post=post)
    return post


def test_it_returns_the_full_post_shape(alice, bob, bob_client):
    post = post_with(alice, images=3, comments=5, likes=0)
    LikeFactory(user=bob, post=post)
    SaveFactory(user=bob, post=post)
    newest_two = list(Comment.objects.filter(post=post).order_by("-created_at")[:2])

    response = bob_client.get_json(f"/api/posts/{post.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == set(PostOut.model_fields)
    assert body["id"] == post.pk
    assert body["author"]["username"] == "alice"
    assert body["author"]["is_private"] is True
    assert body["place"] == {"id": post.place.pk, "name": post.place.name}
    assert [image["position"] for image in body["images"]] == [0, 1, 2]
    assert body["images"][0]["url"].startswith("/media/posts/feed/")
    assert body["images"][0]["thumb_url"].startswith("/media/posts/thumb/")
    assert body["images"][0]["original_url"].startswith("/media/posts/original/")
    assert [c["id"] for c in body["comments_preview"]] == [c.pk for c in newest_two]
    assert body["comments_preview"][0]["author"]["username"] == newest_two[0].author.username
    assert body["caption_entities"] == [
        {"type": "hashtag", "text": "tag", "start": 3, "end": 7},
        {"type": "mention", "text": "bob", "start": 8, "end": 12},
    ]
    assert body["viewer_has_liked"] is True
    assert body["viewer_has_saved"] is True


def test_it_reports_viewer_flags_per_viewer(alice, bob, charlie_client, charlie):
    post = post_with(charlie, images=1, comments=0, likes=0)
    LikeFactory(user=bob, post=post)
    body = charlie_client.get_json(f"/api/posts/{post.pk}").json()
    assert (body["viewer_has_liked"], body["viewer_has_saved"]) == (False, False)


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("alice_client", 200), ("bob_client", 200), ("charlie_client", 404), ("anon_client", 404)],
)
def test_it_shows_private_posts_to_the_owner_and_followers_only(
    request, alice, bob, viewer, status
):
    post = post_with(alice, images=1, comments=1, likes=0)
    response = request.getfixturevalue(viewer).get_json(f"/api/posts/{post.pk}")
    assert response.status_code == status
    if status == 404:
        assert response.json() == {"error": {"code": "not_found", "message": "post not found"}}


def test_it_shows_public_posts_to_anyone(charlie, anon_client):
    post = post_with(charlie, images=1, comments=0, likes=0)
    body = anon_client.get_json(f"/api/posts/{post.pk}").json()
    assert body["id"] == post.pk
    assert body["viewer_has_liked"] is False


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/posts/987654321", 404),
        ("/api/posts/abc", 400),
        ("/api/posts/0", 400),
        ("/api/posts/99999999999999999999999", 400),
    ],
)
def test_it_rejects_unknown_and_malformed_ids(db, anon_client, path, status):
    response = anon_client.get_json(path)
    assert response.status_code == status
    assert "error" in response.json()


@pytest.mark.parametrize(("images", "comments", "likes"), [(1, 0, 0), (10, 30, 25)])
def test_post_detail_query_count_is_constant(alice, bob, images, comments, likes):
    post = post_with(alice, images=images, comments=comments, likes=likes)

    # 1. the post joined to author and place, with viewer_has_liked/saved as EXISTS
    # 2. user_can_view_content: does bob follow alice (she is private)?
    # 3. prefetch: the post's images, in position order
    # 4. prefetch: the two newest comments with their authors (one ROW_NUMBER() window query)
    with assert_queries(4) as captured:
        out = PostOut.of(selectors.post_detail(viewer=bob, post_id=post.pk))
    assert len(out.images) == images
    assert len(out.comments_preview) == min(comments, 2)
    assert "ROW_NUMBER()" in captured.captured_queries[3]["sql"]


def test_post_detail_of_a_public_post_for_anonymous_costs_three_queries(charlie):
    post = post_with(charlie, images=4, comments=4, likes=3)

    # 1. the post with author and place (the viewer flags are constants, no EXISTS)
    # 2. prefetch: images
    # 3. prefetch: the two newest comments with authors
    with assert_queries(3):
        out = PostOut.of(selectors.post_detail(viewer=AnonymousUser(), post_id=post.pk))
    assert (len(out.images), len(out.comments_preview)) == (4, 2)


def test_post_detail_of_a_hidden_post_stops_before_prefetching(alice, charlie):
    post = post_with(alice, images=3, comments=3, likes=0)

    # 1. the post with author; 2. does charlie follow alice? No: 404, nothing prefetched.
    with assert_queries(2), pytest.raises(ApiError, match="post not found"):
        selectors.post_detail(viewer=charlie, post_id=post.pk)


@pytest.mark.parametrize(("images", "comments"), [(1, 0), (10, 20)])
def test_the_detail_endpoint_runs_no_sql_once_warm(alice, bob, bob_client, images, comments):
    post = post_with(alice, images=images, comments=comments, likes=3)
    bob_client.get_json("/api/me")  # warm the session and user caches

    # Cold: the selector's four queries (post, follow check, images, comment preview); the
    # body and bob's flags are then kept in Redis.
    with assert_queries(4):
        assert bob_client.get_json(f"/api/posts/{post.pk}").status_code == 200
    # The body is cached; alice is private and bob's following set is not in Redis yet:
    # 1. the accounts bob follows (once per TTL).
    with assert_queries(1):
        assert bob_client.get_json(f"/api/posts/{post.pk}").status_code == 200
    # Warm: body, flags, privacy override and following set all from Redis.
    with assert_queries(0):
        response = bob_client.get_json(f"/api/posts/{post.pk}")
    assert response.status_code == 200
    assert 'desc="0 queries"' in response["Server-Timing"]
