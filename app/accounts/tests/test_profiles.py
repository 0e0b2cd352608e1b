"""Profiles and the followers/following lists: privacy, keyset paging and exact query counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser

from app.accounts import selectors
from app.accounts.models import Follow, FollowRequest, User
from app.lab.api import encode_cursor
from app.lab.testing import assert_queries
from app.posts.models import Post
from app.testing.client import ApiClient, error_code, login_client
from app.testing.factories import UserFactory


def add_followers(user: User, n: int) -> list[User]:
    followers = UserFactory.create_batch(n)
    Follow.objects.bulk_create([Follow(follower=f, followee=user) for f in followers])
    return followers


# --- the profile ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "anon"])
def test_every_viewer_sees_a_private_profile_header(who, alice, bob, charlie):
    """Like Instagram: the header of a private account is public, its content is not."""
    client = ApiClient() if who == "anon" else login_client(User.objects.get(username=who))

    response = client.get_json("/api/users/alice")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "username", "is_private", "follower_count")} == {
        "id": alice.pk,
        "username": "alice",
        "is_private": True,
        "follower_count": 1,
    }
    assert set(body) == {
        "id",
        "username",
        "name",
        "bio",
        "avatar_url",
        "is_private",
        "follower_count",
        "following_count",
        "post_count",
        "viewer_follows",
        "viewer_requested",
        "follows_viewer",
    }
    assert body["viewer_follows"] is (who == "bob")
    assert "email" not in body


def test_a_follower_sees_they_follow_and_the_owner_sees_who_follows_them(
    alice, bob, alice_client, bob_client
):
    by_bob = bob_client.get_json("/api/users/alice").json()
    by_alice = alice_client.get_json("/api/users/bob").json()

    assert (by_bob["viewer_follows"], by_bob["follows_viewer"]) == (True, False)
    assert (by_alice["viewer_follows"], by_alice["follows_viewer"]) == (False, True)


def test_an_unknown_profile_is_404(anon_client, db):
    for path in ("/api/users/nobody", f"/api/users/{'z' * 200}", "/api/users/a..b"):
        response = anon_client.get_json(path)
        assert response.status_code == 404
        assert error_code(response) == "not_found"


@pytest.mark.parametrize("followers", [0, 30])
def test_the_profile_costs_the_same_whatever_the_followers_and_posts(
    alice, charlie, charlie_client, followers
):
    add_followers(alice, followers)
    Post.objects.bulk_create([Post(author=alice, caption=f"p{i}") for i in range(followers)])

    # 1. the viewer (session -> user; the session itself comes from the Redis cache)
    # 2. the profile with the viewer's three relation flags as EXISTS subqueries
    with assert_queries(2):
        response = charlie_client.get_json("/api/users/alice")

    assert response.status_code == 200


def test_the_anonymous_profile_is_one_query(alice, anon_client):
    # 1. the profile; no viewer, so the relation flags are constants
    with assert_queries(1):
        response = anon_client.get_json("/api/users/alice")

    assert response.json()["viewer_follows"] is False


# --- followers and following: privacy ---------------------------------------------------


LISTS = ["followers", "following"]


@pytest.mark.parametrize("which", LISTS)
@pytest.mark.parametrize(
    ("who", "status"), [("alice", 200), ("bob", 200), ("charlie", 404), ("anon", 404)]
)
def test_a_private_accounts_lists_are_for_the_owner_and_followers(
    alice, bob, charlie, which, who, status
):
    Follow.objects.create(follower=alice, followee=charlie)
    client = ApiClient() if who == "anon" else login_client(User.objects.get(username=who))

    response = client.get_json(f"/api/users/alice/{which}")

    assert response.status_code == status
    if status == 404:
        assert error_code(response) == "not_found"
    else:
        expected = "bob" if which == "followers" else "charlie"
        assert [item["username"] for item in response.json()["items"]] == [expected]


@pytest.mark.parametrize("which", LISTS)
@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "anon"])
def test_a_public_accounts_lists_are_for_everyone(alice, bob, charlie, which, who):
    client = ApiClient() if who == "anon" else login_client(User.objects.get(username=who))

    response = client.get_json(f"/api/users/bob/{which}")

    assert response.status_code == 200
    expected = [] if which == "followers" else ["alice"]
    assert [item["username"] for item in response.json()["items"]] == expected


def test_a_pending_request_does_not_open_the_lists(alice, charlie, charlie_client):
    charlie_client.post_json("/api/users/alice/follow")

    response = charlie_client.get_json("/api/users/alice/followers")

    assert response.status_code == 404


def test_list_items_carry_the_viewers_follow_state(alice, bob, charlie, bob_client):
    dana, erin = UserFactory(username="dana"), UserFactory(username="erin")
    Follow.objects.bulk_create(
        [
            Follow(follower=dana, followee=alice),
            Follow(follower=erin, followee=alice),
            Follow(follower=bob, followee=dana),
        ]
    )

    items = bob_client.get_json("/api/users/alice/followers").json()["items"]

    assert {item["username"]: item["viewer_follows"] for item in items} == {
        "bob": False,
        "dana": True,
        "erin": False,
    }
    assert set(items[0]) == {"id", "username", "name", "avatar_url", "is_private", "viewer_follows"}


@pytest.mark.parametrize("which", LISTS)
def test_lists_of_an_unknown_user_are_404(anon_client, db, which):
    response = anon_client.get_json(f"/api/users/nobody/{which}")

    assert response.status_code == 404


# --- keyset paging ----------------------------------------------------------------------


def walk(client: ApiClient, path: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        body = client.get_json(path, params).json()
        assert len(body["items"]) <= limit
        seen += [item["username"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging never ended")


def test_followers_page_newest_first_without_gaps_or_repeats(charlie, charlie_client):
    followers = add_followers(charlie, 25)

    seen = walk(charlie_client, "/api/users/charlie/followers", limit=10)

    assert seen == [user.username for user in reversed(followers)]


def test_paging_breaks_created_at_ties_by_id(charlie, charlie_client):
    followees = UserFactory.create_batch(7)
    Follow.objects.bulk_create([Follow(follower=charlie, followee=u) for u in followees])
    Follow.objects.update(created_at=datetime(2024, 1, 1, tzinfo=UTC))

    seen = walk(charlie_client, "/api/users/charlie/following", limit=3)

    assert seen == [user.username for user in reversed(followees)]


def test_the_default_page_is_20(charlie, anon_client):
    add_followers(charlie, 21)

    body = anon_client.get_json("/api/users/charlie/followers").json()

    assert len(body["items"]) == 20
    assert body["next_cursor"]


@pytest.mark.parametrize("which", LISTS)
@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 51},
        {"limit": -1},
        {"limit": "many"},
        {"cursor": "not-a-cursor"},
        {"cursor": encode_cursor("yesterday", 1)},
        {"cursor": encode_cursor(1, 2, 3)},
        {"cursor": "x" * 500},
    ],
)
def test_bad_paging_is_400(charlie, anon_client, which, params):
    response = anon_client.get_json(f"/api/users/charlie/{which}", params)

    assert response.status_code == 400
    assert "code" in response.json()["error"]


# --- query counts -----------------------------------------------------------------------


@pytest.mark.parametrize("which", LISTS)
@pytest.mark.parametrize("n", [2, 20])
def test_a_list_page_costs_three_queries_at_any_size(alice, bob, bob_client, which, n):
    """bob views private alice's lists: the privacy check must not add a query either."""
    others = UserFactory.create_batch(n)
    edges = [Follow(follower=u, followee=alice) for u in others] + [
        Follow(follower=alice, followee=u) for u in others
    ]
    Follow.objects.bulk_create(edges)

    # 1. the viewer (session -> user; the session itself comes from the Redis cache)
    # 2. alice with bob's relation flags (the privacy check reads viewer_follows)
    # 3. the page: edges joined to their users, with bob's viewer_follows as EXISTS
    with assert_queries(3):
        response = bob_client.get_json(f"/api/users/alice/{which}", {"limit": 50})

    assert len(response.json()["items"]) >= n


@pytest.mark.parametrize("n", [2, 20])
def test_the_follow_requests_page_costs_two_queries_at_any_size(alice, alice_client, n):
    FollowRequest.objects.bulk_create(
        [FollowRequest(requester=u, target=alice) for u in UserFactory.create_batch(n)]
    )

    # 1. the viewer (session -> user)
    # 2. the page: requests joined to their requesters
    with assert_queries(2):
        response = alice_client.get_json("/api/me/follow-requests", {"limit": 50})

    assert len(response.json()["items"]) == n


@pytest.mark.parametrize("n", [2, 20])
@pytest.mark.parametrize("viewer_kind", ["user", "anon"])
def test_the_edge_selectors_are_one_query(alice, bob, n, viewer_kind):
    viewer = bob if viewer_kind == "user" else AnonymousUser()
    others = UserFactory.create_batch(n)
    Follow.objects.bulk_create([Follow(follower=u, followee=alice) for u in others])
    Follow.objects.bulk_create([Follow(follower=alice, followee=u) for u in others])

    # 1. followers: edges joined to the follower, viewer_follows as EXISTS (or a constant)
    with assert_queries(1):
        rows = selectors.user_followers_page(viewer=viewer, owner=alice, cursor=None, limit=50)
        names = [(e.follower.username, e.follower.avatar, e.viewer_follows) for e in rows]
    assert len(names) == n + 1
    # 1. following: edges joined to the followee
    with assert_queries(1):
        rows = selectors.user_following_page(viewer=viewer, owner=alice, cursor=None, limit=50)
        names = [(e.followee.username, e.followee.is_private, e.viewer_follows) for e in rows]
    assert len(names) == n


def test_user_for_viewer_is_one_query(alice, bob):
    # 1. the user with three EXISTS flags
    with assert_queries(1):
        user = selectors.user_for_viewer(viewer=bob, username="ALICE")
        flags = (user.viewer_follows, user.viewer_requested, user.follows_viewer)

    assert flags == (True, False, False)
    assert selectors.user_lists_visible(viewer=bob, owner=user)
