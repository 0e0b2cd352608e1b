"""Comments: create, keyset list (oldest first), delete by author or post owner, exact counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from app.lab.testing import assert_queries
from app.posts import selectors
from app.posts.models import Comment, Post
from app.posts.schemas import CommentOut
from app.testing.factories import CommentFactory, PostFactory


@pytest.fixture
def alice_post(alice):
    return PostFactory(author=alice)


def comments_on(post, count: int) -> list[Comment]:
    """``count`` comments one minute apart, oldest first."""
    start = timezone.now() - timedelta(days=1)
    made = []
    for index in range(count):
        comment = CommentFactory(post=post)
        Comment.objects.filter(pk=comment.pk).update(created_at=start + timedelta(minutes=index))
        made.append(comment)
    return made


def test_it_adds_a_comment_and_counts_it(alice_post, bob_client):
    response = bob_client.post_json(f"/api/posts/{alice_post.pk}/comments", {"text": "  nice  "})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["text"] == "nice"
    assert body["author"]["username"] == "bob"
    assert Post.objects.get(pk=alice_post.pk).comment_count == 1
    detail = bob_client.get_json(f"/api/posts/{alice_post.pk}").json()
    assert detail["comment_count"] == 1
    assert [c["id"] for c in detail["comments_preview"]] == [body["id"]]


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("alice_client", 201), ("bob_client", 201), ("charlie_client", 404), ("anon_client", 401)],
)
def test_it_lets_only_viewers_of_a_private_post_comment(request, alice_post, bob, viewer, status):
    client = request.getfixturevalue(viewer)
    response = client.post_json(f"/api/posts/{alice_post.pk}/comments", {"text": "hello"})
    assert response.status_code == status
    expected = 1 if status == 201 else 0
    assert Comment.objects.count() == expected
    assert Post.objects.get(pk=alice_post.pk).comment_count == expected


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("alice_client", 200), ("bob_client", 200), ("charlie_client", 404), ("anon_client", 404)],
)
def test_it_lists_a_private_posts_comments_to_viewers_only(
    request, alice_post, bob, viewer, status
):
    comments_on(alice_post, 2)
    response = request.getfixturevalue(viewer).get_json(f"/api/posts/{alice_post.pk}/comments")
    assert response.status_code == status
    if status == 200:
        assert len(response.json()["items"]) == 2


@pytest.mark.parametrize(
    "payload",
    [{}, {"text": ""}, {"text": "   "}, {"text": "x" * 1001}, {"text": 123}, {"text": None}],
)
def test_it_rejects_bad_comment_bodies(alice_post, bob_client, payload):
    response = bob_client.post_json(f"/api/posts/{alice_post.pk}/comments", payload)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"invalid_request", "invalid_comment"}
    assert not Comment.objects.exists()


@pytest.mark.parametrize(
    "raw", ['{"text": "a\\u0000b"}', '{"text": "a\\ud800b"}', "[1, 2]", "null"]
)
def test_it_rejects_text_postgres_cannot_store_and_non_object_bodies(alice_post, bob_client, raw):
    response = bob_client.post(
        f"/api/posts/{alice_post.pk}/comments",
        raw,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {bob_client.token}",
    )
    assert response.status_code == 400, response.content
    assert "error" in response.json()
    assert not Comment.objects.exists()


def test_it_accepts_a_comment_of_exactly_the_maximum_length(alice_post, bob_client):
    response = bob_client.post_json(f"/api/posts/{alice_post.pk}/comments", {"text": "x" * 1000})
    assert response.status_code == 201


def test_it_rejects_malformed_json(alice_post, bob_client):
    response = bob_client.post(
        f"/api/posts/{alice_post.pk}/comments",
        '{"text": "unterminated',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {bob_client.token}",
    )
    assert response.status_code == 400
    assert "error" in response.json()


def test_it_pages_comments_oldest_first(alice_post, bob_client):
    made = comments_on(alice_post, 25)
    # The last of page one and the first of page two share an instant: the id breaks the tie,
    # so neither is lost or repeated across the cursor.
    tie = Comment.objects.get(pk=made[9].pk).created_at
    Comment.objects.filter(pk=made[10].pk).update(created_at=tie)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = bob_client.get_json(f"/api/posts/{alice_post.pk}/comments", params).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == [c.pk for c in made]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 51}, {"limit": "abc"}, {"cursor": "garbage!"}, {"cursor": "WzFd"}],
)
def test_it_rejects_bad_list_parameters(alice_post, bob_client, params):
    response = bob_client.get_json(f"/api/posts/{alice_post.pk}/comments", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {
        "invalid_limit",
        "invalid_cursor",
        "invalid_request",
    }


def test_the_author_and_the_post_owner_may_delete_a_comment(
    alice, alice_post, bob, bob_client, alice_client
):
    own, other = (
        bob_client.post_json(f"/api/posts/{alice_post.pk}/comments", {"text": t}).json()["id"]
        for t in ("one", "two")
    )
    assert bob_client.delete_json(f"/api/posts/{alice_post.pk}/comments/{own}").status_code == 204
    assert (
        alice_client.delete_json(f"/api/posts/{alice_post.pk}/comments/{other}").status_code == 204
    )
    assert not Comment.objects.exists()
    assert Post.objects.get(pk=alice_post.pk).comment_count == 0
    again = bob_client.delete_json(f"/api/posts/{alice_post.pk}/comments/{own}")
    assert again.status_code == 404
    assert Post.objects.get(pk=alice_post.pk).comment_count == 0


def test_others_may_not_delete_a_comment(
    alice, alice_post, bob, charlie, charlie_client, bob_client, anon_client
):
    alices = alice_post
    charlies_post = PostFactory(author=charlie)
    on_alice = CommentFactory(post=alices, author=alice)
    on_charlie = CommentFactory(post=charlies_post, author=charlie)

    # bob can see both posts but owns neither post nor comment: 403.
    forbidden = bob_client.delete_json(f"/api/posts/{charlies_post.pk}/comments/{on_charlie.pk}")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    # charlie cannot see alice's post at all: 404, not 403.
    hidden = charlie_client.delete_json(f"/api/posts/{alices.pk}/comments/{on_alice.pk}")
    assert hidden.status_code == 404
    # A comment id under the wrong post is not found.
    wrong = charlie_client.delete_json(f"/api/posts/{charlies_post.pk}/comments/{on_alice.pk}")
    assert wrong.status_code == 404
    assert (
        anon_client.delete_json(f"/api/posts/{alices.pk}/comments/{on_alice.pk}").status_code == 401
    )
    assert Comment.objects.count() == 2


@pytest.mark.parametrize("count", [2, 20])
def test_comment_page_query_count_does_not_grow_with_the_page(alice_post, bob, count):
    comments_on(alice_post, count)

    # 1. the post with its author (visibility)
    # 2. user_can_view_content: does bob follow alice?
    # 3. the page of comments joined to their authors
    with assert_queries(3):
        result = selectors.comment_page(viewer=bob, post_id=alice_post.pk, cursor=None, limit=20)
        items = [CommentOut.of(comment) for comment in result["items"]]
    assert len(items) == count


@pytest.mark.parametrize("count", [2, 20])
def test_the_comment_list_endpoint_query_count_is_constant(alice_post, bob_client, count):
    comments_on(alice_post, count)
    bob_client.get_json(f"/api/posts/{alice_post.pk}/comments")  # warm the session and user caches

    # The selector's three queries; authentication reads the session and user from Redis.
    with assert_queries(3):
        response = bob_client.get_json(f"/api/posts/{alice_post.pk}/comments")
    assert len(response.json()["items"]) == count


def test_anyone_may_read_a_public_posts_comments(charlie, anon_client):
    post = PostFactory(author=charlie)
    made = comments_on(post, 3)
    body = anon_client.get_json(f"/api/posts/{post.pk}/comments").json()
    assert [item["id"] for item in body["items"]] == [c.pk for c in made]
    assert body["next_cursor"] is None
