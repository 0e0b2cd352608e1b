"""GET /api/feed: who sees what, keyset paging, parameters, and the strategy switch."""

from __future__ import annotations

import pytest

from app.posts.models import Post
from app.testing.data import posts_make

STRATEGIES = ["naive", "optimized", "cached"]


def feed_ids(client, strategy: str, **params) -> list[int]:
    response = client.get_json("/api/feed", params, HTTP_X_LAB_STRATEGY=f"feed={strategy}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_it_requires_login(anon_client, db):
    response = anon_client.get_json("/api/feed")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_shows_followed_and_own_posts_to_each_persona(
    strategy, alice, bob, charlie, alice_client, bob_client, charlie_client
):
    """alice is private and followed by bob; charlie is a stranger whom nobody follows."""
    alices = posts_make(alice, 2, hours_ago=0)
    bobs = posts_make(bob, 2, hours_ago=10)
    charlies = posts_make(charlie, 1, hours_ago=20)
    ids = lambda posts: [post.pk for post in posts]  # noqa: E731

    assert feed_ids(alice_client, strategy) == ids(alices)
    assert feed_ids(bob_client, strategy) == ids(alices) + ids(bobs)
    assert feed_ids(charlie_client, strategy) == ids(charlies)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_hides_a_private_account_from_a_pending_requester(
    strategy, alice, charlie, charlie_client
):
    posts_make(alice, 2)
    response = charlie_client.post_json("/api/users/alice/follow")
    assert response.json()["status"] == "requested"
    assert feed_ids(charlie_client, strategy) == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_shows_every_field_of_a_post(strategy, alice, bob, bob_client):
    (post,) = posts_make(alice, 1)
    item = bob_client.get_json("/api/feed", HTTP_X_LAB_STRATEGY=f"feed={strategy}").json()["items"][
        0
    ]
    assert item["id"] == post.pk
    assert item["author"]["username"] == "alice"
    assert item["caption_entities"][0] == {"type": "hashtag", "text": "feed", "start": 0, "end": 5}
    assert [image["width"] for image in item["images"]] == [1080, 1080]
    assert item["comment_count"] == 2
    assert len(item["comments_preview"]) == 2
    assert item["viewer_has_liked"] is False
    assert item["viewer_has_saved"] is False


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_pages_newest_first_without_gaps_or_repeats(strategy, alice, bob, bob_client):
    posts = posts_make(alice, 5) + posts_make(bob, 4, hours_ago=2)
    # Two posts on one instant at a page boundary: only the id orders them.
    Post.objects.filter(pk=posts[6].pk).update(created_at=posts[1].created_at)
    expected = [pk for _, pk in sorted(Post.objects.values_list("created_at", "id"), reverse=True)]

    seen, cursor = [], None
    for _ in range(4):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = bob_client.get_json(
            "/api/feed", params, HTTP_X_LAB_STRATEGY=f"feed={strategy}"
        ).json()
        seen += [item["id"] for item in response["items"]]
        cursor = response["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert seen == expected


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 51}, {"limit": "x"}, {"cursor": "nope"}, {"cursor": "W10"}]
)
def test_it_rejects_bad_parameters(bob_client, params):
    response = bob_client.get_json("/api/feed", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {
        "invalid_limit",
        "invalid_cursor",
        "invalid_request",
    }


def test_it_rejects_an_unknown_strategy(bob_client):
    response = bob_client.get_json("/api/feed", HTTP_X_LAB_STRATEGY="feed=psychic")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_strategy"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_names_the_strategy_in_server_timing(strategy, bob_client):
    response = bob_client.get_json("/api/feed", HTTP_X_LAB_STRATEGY=f"feed={strategy}")
    assert f'strategy;desc="feed={strategy}"' in response["Server-Timing"]


def test_the_default_strategy_is_cached(bob_client):
    assert 'strategy;desc="feed=cached"' in bob_client.get_json("/api/feed")["Server-Timing"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_shows_posts_of_a_newly_approved_follower_only_after_approval(
    strategy, alice, charlie, alice_client, charlie_client, committed
):
    (post,) = posts_make(alice, 1)
    with committed():
        charlie_client.post_json("/api/users/alice/follow")
    assert feed_ids(charlie_client, strategy) == []
    with committed():
        approved = alice_client.post_json("/api/me/follow-requests/charlie/approve")
    assert approved.status_code in (200, 204), approved.content
    assert feed_ids(charlie_client, strategy) == [post.pk]
