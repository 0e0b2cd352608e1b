"""GET /api/me/saved: the viewer's saved posts, newest save first, keyset on the save, only
those the viewer may still see, in a constant number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from app.accounts import services as account_services
from app.accounts.models import User
from app.lab.testing import assert_queries
from app.posts.models import Post, Save
from app.testing.client import ApiClient
from app.testing.data import posts_make


def save_all(user: User, posts: list[Post]) -> None:
    """``user`` saves ``posts`` one minute apart, the first one most recently."""
    now = timezone.now()
    for index, post in enumerate(posts):
        Save.objects.create(user=user, post=post)
        Save.objects.filter(user=user, post=post).update(created_at=now - timedelta(minutes=index))


def saved_ids(client: ApiClient, **params: object) -> tuple[list[int], str | None]:
    response = client.get_json("/api/me/saved", params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert all(item["viewer_has_saved"] for item in body["items"])
    return [item["id"] for item in body["items"]], body["next_cursor"]


def test_it_lists_saves_newest_first_not_by_post_age(
    alice: User, bob: User, charlie: User, bob_client: ApiClient
) -> None:
    old, new = posts_make(charlie, 2)[::-1]
    save_all(bob, [old, new])

    assert saved_ids(bob_client) == ([old.pk, new.pk], None)


def test_it_pages_without_gaps_or_repeats(bob: User, charlie: User, bob_client: ApiClient) -> None:
    posts = posts_make(charlie, 7)
    save_all(bob, posts)
    # Two saves at one instant: only the save id separates them across a page boundary.
    instant = Save.objects.get(post=posts[2]).created_at
    Save.objects.filter(post=posts[3]).update(created_at=instant)
    expected = list(
        Save.objects.filter(user=bob).order_by("-created_at", "-id").values_list("post", flat=True)
    )

    seen, cursor = [], None
    for _ in range(3):
        ids, cursor = saved_ids(bob_client, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += ids
    assert cursor is None
    assert seen == expected


def test_it_drops_a_private_post_once_the_viewer_stops_following(
    alice: User, bob: User, charlie: User, bob_client: ApiClient
) -> None:
    [private] = posts_make(alice, 1)
    [public] = posts_make(charlie, 1)
    save_all(bob, [private, public])
    assert saved_ids(bob_client)[0] == [private.pk, public.pk]

    account_services.follow_delete(follower=bob, followee=alice)
    assert saved_ids(bob_client)[0] == [public.pk]
    Post.objects.filter(pk=public.pk).delete()
    assert saved_ids(bob_client)[0] == []


def test_it_is_the_viewers_own_and_needs_a_signed_in_user(
    bob: User, charlie: User, charlie_client: ApiClient, anon_client: ApiClient
) -> None:
    save_all(bob, posts_make(charlie, 1))

    assert saved_ids(charlie_client) == ([], None)
    response = anon_client.get_json("/api/me/saved")
    assert response.status_code == 401
    for params in ({"limit": 0}, {"limit": 51}, {"cursor": "not-a-cursor"}):
        assert charlie_client.get_json("/api/me/saved", params).status_code == 400


@pytest.mark.parametrize("count", [2, 20])
def test_the_saved_endpoint_query_count_is_constant(
    bob: User, charlie: User, bob_client: ApiClient, count: int
) -> None:
    save_all(bob, posts_make(charlie, count))
    bob_client.get_json("/api/me")  # warm the session and user caches

    # Cold: 1. the page's keys, visibility included (one statement); 2. the bodies Redis
    # lacks, with bob's flags; 3. their images; 4. their comment previews.
    with assert_queries(4):
        assert len(saved_ids(bob_client)[0]) == count
    # Warm: 1. the keys; bodies and bob's flags come from Redis.
    with assert_queries(1):
        assert len(saved_ids(bob_client)[0]) == count
