"""GET /api/hashtags/{name} and /api/places/{id}: header plus top and recent posts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from app.lab.testing import assert_queries
from app.testing.factories import PlaceFactory


def ids(body):
    return [item["id"] for item in body["items"]]


def walk(client, path, order, limit=3):
    seen, cursor = [], None
    for _ in range(10):
        params = {"order": order, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get_json(path, params).json()
        seen += ids(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("did not finish")


@pytest.fixture
def tagged(alice, bob, charlie, make_post):
    """Seven public posts and one private one under #여행 at 남산, an hour apart."""
    place = PlaceFactory(name="남산")
    now = timezone.now()
    public = [
        make_post(
            charlie,
            f"day {i} #여행",
            place=place,
            likes=(i * 5) % 7,
            created_at=now - timedelta(hours=i),
        )
        for i in range(7)
    ]
    private = make_post(
        alice, "secret #여행", place=place, likes=100, created_at=now - timedelta(minutes=30)
    )
    return place, public, private


PERSONAS = [
    ("alice_client", True),
    ("bob_client", True),
    ("charlie_client", False),
    ("anon_client", False),
]


@pytest.mark.parametrize("page", ["hashtag", "place"])
def test_it_pages_recent_and_top_posts_visible_to_the_viewer(request, tagged, page):
    place, public, private = tagged
    path = "/api/hashtags/여행" if page == "hashtag" else f"/api/places/{place.pk}"
    for viewer, sees_private in PERSONAS:
        client = request.getfixturevalue(viewer)
        visible = public + ([private] if sees_private else [])
        recent = sorted(visible, key=lambda p: (p.created_at, p.pk), reverse=True)
        top = sorted(visible, key=lambda p: (p.like_count, p.pk), reverse=True)
        assert walk(client, path, "recent") == [p.pk for p in recent], viewer
        assert walk(client, path, "top") == [p.pk for p in top], viewer
        header = client.get_json(path).json()
        # A hashtag's count is shared by every viewer, so it counts public posts only.
        expected = 7 if page == "hashtag" else 8
        assert header["hashtag" if page == "hashtag" else "place"]["post_count"] == expected


def test_it_finds_the_hashtag_page_by_normalised_name(tagged, anon_client):
    body = anon_client.get_json("/api/hashtags/%23여행").json()
    assert body["hashtag"]["name"] == "여행"
    assert body["order"] == "top"


@pytest.mark.parametrize(
    "path", ["/api/hashtags/nope", "/api/hashtags/" + "x" * 300, "/api/places/999999"]
)
def test_it_404s_unknown_pages(db, anon_client, path):
    response = anon_client.get_json(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "params",
    [{"order": "best"}, {"limit": 51}, {"cursor": "zz"}, {"order": "recent", "cursor": "WzEsMl0"}],
)
def test_it_rejects_bad_page_parameters(tagged, anon_client, params):
    assert anon_client.get_json("/api/hashtags/여행", params).status_code == 400


@pytest.mark.parametrize("count", [2, 20])
@pytest.mark.parametrize("order", ["top", "recent"])
def test_it_renders_a_page_in_constant_queries(charlie, bob_client, make_post, count, order):
    place = PlaceFactory(name="Constant")
    for index in range(count):
        make_post(charlie, f"c{index} #constant", place=place)
    bob_client.get_json("/api/me")  # warms the session and user caches
    # Cold: 1. the hashtag's window (its header and newest posts with their authors'
    # privacy, one statement); 2. the bodies Redis lacks, with bob's flags; 3. their images;
    # 4. their two newest comments.
    with assert_queries(4):
        body = bob_client.get_json("/api/hashtags/constant", {"order": order}).json()
    assert len(body["items"]) == count
    # The place shows the same posts: 1. its window; the bodies are cached already.
    with assert_queries(1):
        body = bob_client.get_json(f"/api/places/{place.pk}", {"order": order}).json()
    assert len(body["items"]) == count
    for path in ("/api/hashtags/constant", f"/api/places/{place.pk}"):
        # Warm: the window, bob's flags and the bodies from Redis; auth reads the session
        # and the user from Redis too.
        with assert_queries(0):
            body = bob_client.get_json(path, {"order": order}).json()
        assert len(body["items"]) == count
