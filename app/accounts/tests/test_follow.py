"""Follow, unfollow and follow requests: idempotency, exact counters, and who may do what."""

from __future__ import annotations

import pytest

from app.accounts.models import Follow, FollowRequest, User
from app.testing.client import ApiClient, error_code, login_client
from app.testing.factories import UserFactory


def counts(user: User) -> tuple[int, int]:
    user.refresh_from_db()
    return user.follower_count, user.following_count


@pytest.fixture
def dana(db) -> User:
    """A public account."""
    return UserFactory(username="dana")


# --- following a public account ---------------------------------------------------------


def test_it_follows_a_public_account_and_counts_once(charlie, charlie_client, dana):
    first = charlie_client.post_json("/api/users/dana/follow")
    second = charlie_client.post_json("/api/users/dana/follow")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json() == {"status": "following"}
    assert Follow.objects.filter(follower=charlie, followee=dana).count() == 1
    assert counts(dana) == (1, 0)
    assert counts(charlie) == (0, 1)


def test_it_unfollows_idempotently(charlie, charlie_client, dana):
    charlie_client.post_json("/api/users/dana/follow")

    first = charlie_client.delete_json("/api/users/dana/follow")
    second = charlie_client.delete_json("/api/users/dana/follow")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json() == {"status": "not_following"}
    assert not Follow.objects.filter(follower=charlie, followee=dana).exists()
    assert counts(dana) == (0, 0)
    assert counts(charlie) == (0, 0)


def test_it_accepts_any_case_in_the_path(charlie_client, dana):
    response = charlie_client.post_json("/api/users/DaNa/follow")

    assert response.json() == {"status": "following"}
    assert counts(dana) == (1, 0)


def test_it_refuses_to_follow_yourself(charlie, charlie_client):
    follow = charlie_client.post_json("/api/users/charlie/follow")
    unfollow = charlie_client.delete_json("/api/users/charlie/follow")

    assert (follow.status_code, unfollow.status_code) == (400, 400)
    assert error_code(follow) == "cannot_follow_self"
    assert counts(charlie) == (0, 0)


def test_following_an_unknown_user_is_404(charlie_client):
    for response in (
        charlie_client.post_json("/api/users/nobody/follow"),
        charlie_client.delete_json("/api/users/nobody/follow"),
        charlie_client.post_json(f"/api/users/{'x' * 300}/follow"),
    ):
        assert response.status_code == 404
        assert error_code(response) == "not_found"


def test_following_needs_a_login(anon_client, dana):
    follow = anon_client.post_json("/api/users/dana/follow")
    unfollow = anon_client.delete_json("/api/users/dana/follow")

    assert (follow.status_code, unfollow.status_code) == (401, 401)
    assert counts(dana) == (0, 0)


# --- private accounts and follow requests -----------------------------------------------


def test_following_a_private_account_makes_a_request(alice, charlie, charlie_client):
    first = charlie_client.post_json("/api/users/alice/follow")
    second = charlie_client.post_json("/api/users/alice/follow")

    assert first.json() == second.json() == {"status": "requested"}
    assert FollowRequest.objects.filter(requester=charlie, target=alice).count() == 1
    assert not Follow.objects.filter(follower=charlie, followee=alice).exists()
    assert counts(alice) == (0, 0)


def test_a_follower_of_a_private_account_stays_following(alice, bob, bob_client):
    response = bob_client.post_json("/api/users/alice/follow")

    assert response.json() == {"status": "following"}
    assert not FollowRequest.objects.exists()
    assert counts(alice) == (1, 0)


def test_unfollowing_cancels_a_pending_request(alice, charlie, charlie_client):
    charlie_client.post_json("/api/users/alice/follow")

    response = charlie_client.delete_json("/api/users/alice/follow")

    assert response.json() == {"status": "not_following"}
    assert not FollowRequest.objects.exists()


def test_the_owner_approves_a_request(alice, charlie, alice_client, charlie_client):
    charlie_client.post_json("/api/users/alice/follow")

    response = alice_client.post_json("/api/me/follow-requests/charlie/approve")

    assert response.status_code == 200
    assert response.json() == {"status": "approved"}
    assert Follow.objects.filter(follower=charlie, followee=alice).exists()
    assert not FollowRequest.objects.exists()
    assert counts(alice) == (1, 0)
    assert counts(charlie) == (0, 1)
    assert charlie_client.get_json("/api/users/alice/followers").status_code == 200


def test_the_owner_declines_a_request(alice, charlie, alice_client, charlie_client):
    charlie_client.post_json("/api/users/alice/follow")

    response = alice_client.post_json("/api/me/follow-requests/charlie/decline")

    assert response.json() == {"status": "declined"}
    assert not FollowRequest.objects.exists()
    assert not Follow.objects.filter(follower=charlie, followee=alice).exists()
    assert counts(alice) == (0, 0)


@pytest.mark.parametrize("action", ["approve", "decline"])
def test_deciding_twice_or_without_a_request_is_404(alice, charlie, alice_client, action):
    FollowRequest.objects.create(requester=charlie, target=alice)
    url = f"/api/me/follow-requests/charlie/{action}"

    first = alice_client.post_json(url)
    second = alice_client.post_json(url)
    unknown = alice_client.post_json(f"/api/me/follow-requests/nobody/{action}")

    assert (first.status_code, second.status_code, unknown.status_code) == (200, 404, 404)
    assert counts(alice) == (1 if action == "approve" else 0, 0)


@pytest.mark.parametrize("action", ["approve", "decline"])
def test_only_the_target_can_decide_a_request(alice, bob, charlie, bob_client, action):
    """bob cannot approve charlie's request to alice: it is not in bob's inbox."""
    FollowRequest.objects.create(requester=charlie, target=alice)

    bob_says = bob_client.post_json(f"/api/me/follow-requests/charlie/{action}")
    charlie_says = login_client(charlie).post_json(f"/api/me/follow-requests/charlie/{action}")
    anon_says = ApiClient().post_json(f"/api/me/follow-requests/charlie/{action}")

    assert (bob_says.status_code, charlie_says.status_code, anon_says.status_code) == (
        404,
        404,
        401,
    )
    assert FollowRequest.objects.filter(requester=charlie, target=alice).exists()
    assert not Follow.objects.filter(follower=charlie, followee=alice).exists()


def test_an_account_turned_public_keeps_requests_until_the_requester_follows(
    alice, charlie, alice_client, charlie_client
):
    charlie_client.post_json("/api/users/alice/follow")
    User.objects.filter(pk=alice.pk).update(is_private=False)

    pending = alice_client.get_json("/api/me/follow-requests").json()["items"]
    assert [item["user"]["username"] for item in pending] == ["charlie"]
    response = charlie_client.post_json("/api/users/alice/follow")

    assert response.json() == {"status": "following"}
    assert not FollowRequest.objects.exists()
    assert counts(alice) == (1, 0)


def test_approving_after_an_existing_follow_does_not_double_count(alice, bob, alice_client):
    # A stale request can coexist with a follow (made before the account went private).
    FollowRequest.objects.create(requester=bob, target=alice)

    response = alice_client.post_json("/api/me/follow-requests/bob/approve")

    assert response.status_code == 200
    assert Follow.objects.filter(follower=bob, followee=alice).count() == 1
    assert counts(alice) == (1, 0)
    assert counts(bob) == (0, 1)


def test_the_profile_shows_the_viewers_relation(alice, bob, charlie, charlie_client):
    Follow.objects.create(follower=alice, followee=charlie)

    before = charlie_client.get_json("/api/users/alice").json()
    charlie_client.post_json("/api/users/alice/follow")
    after = charlie_client.get_json("/api/users/alice").json()

    assert (before["viewer_follows"], before["viewer_requested"]) == (False, False)
    assert before["follows_viewer"] is True
    assert (after["viewer_follows"], after["viewer_requested"]) == (False, True)


# --- the owner's pending-requests list --------------------------------------------------


def test_follow_requests_list_is_the_owners_own(alice, bob, charlie, alice_client, bob_client):
    FollowRequest.objects.create(requester=charlie, target=alice)

    mine = alice_client.get_json("/api/me/follow-requests")
    bobs = bob_client.get_json("/api/me/follow-requests")
    anon = ApiClient().get_json("/api/me/follow-requests")

    assert mine.status_code == 200
    [item] = mine.json()["items"]
    assert item["user"] == {
        "id": charlie.pk,
        "username": "charlie",
        "name": charlie.name,
        "avatar_url": None,
        "is_private": False,
    }
    assert item["id"] and item["created_at"]
    assert bobs.json() == {"items": [], "next_cursor": None}
    assert anon.status_code == 401


def test_follow_requests_list_pages_newest_first(alice, alice_client):
    requesters = UserFactory.create_batch(5)
    for requester in requesters:
        FollowRequest.objects.create(requester=requester, target=alice)

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = alice_client.get_json("/api/me/follow-requests", params).json()
        seen += [item["user"]["username"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == [user.username for user in reversed(requesters)]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 51}, {"limit": "ten"}, {"cursor": "garbage!"}]
)
def test_follow_requests_list_refuses_bad_paging(alice_client, params):
    response = alice_client.get_json("/api/me/follow-requests", params)

    assert response.status_code == 400
    assert "code" in response.json()["error"]
