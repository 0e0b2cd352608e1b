"""Hashtags and places match inside their names, prefix matches first; `#` and `@` in the
typeahead name the kind asked for, and a sigil alone is an empty answer, not a 400."""

from __future__ import annotations

import pytest

from app.lab.testing import assert_queries
from app.testing.data import public_count_set
from app.testing.factories import HashtagFactory, PlaceFactory, UserFactory


@pytest.fixture
def parks(db):
    """`park` inside and at the start of names; the inside matches are the more popular."""
    public_count_set(HashtagFactory(name="skatepark"), 50)
    public_count_set(HashtagFactory(name="parkour"), 2)
    PlaceFactory(name="Central Park", post_count=90)
    PlaceFactory(name="Park Avenue", post_count=1)
    UserFactory(username="parker", follower_count=1)


def kinds_and_texts(body):
    return [(item["kind"], item["text"]) for item in body["items"]]


def test_it_suggests_names_holding_the_query_after_those_starting_with_it(parks, anon_client):
    # 1 the UNION ALL: exact, prefix and (from three characters) infix branches.
    with assert_queries(1):
        body = anon_client.get_json("/api/search/suggest", {"q": "park"}).json()
    assert kinds_and_texts(body) == [
        ("hashtag", "parkour"),
        ("place", "Park Avenue"),
        ("user", "parker"),
        ("place", "Central Park"),
        ("hashtag", "skatepark"),
    ]
    with assert_queries(0):
        again = anon_client.get_json("/api/search/suggest", {"q": "PARK"}).json()
    assert again == body
    # Under three characters there is no trigram to look up: prefixes only.
    short = anon_client.get_json("/api/search/suggest", {"q": "pa"}).json()
    assert ("place", "Central Park") not in kinds_and_texts(short)


def test_it_suggests_only_the_kind_a_sigil_names(parks, anon_client):
    tags = anon_client.get_json("/api/search/suggest", {"q": "#park"}).json()
    assert kinds_and_texts(tags) == [("hashtag", "parkour"), ("hashtag", "skatepark")]
    users = anon_client.get_json("/api/search/suggest", {"q": "@par"}).json()
    assert kinds_and_texts(users) == [("user", "parker")]
    for alone in ("#", "@", " # "):
        with assert_queries(0):
            response = anon_client.get_json("/api/search/suggest", {"q": alone})
        assert response.status_code == 200
        assert response.json() == {"items": []}


@pytest.mark.parametrize(
    ("kind", "names"),
    [("hashtags", ["parkour", "skatepark"]), ("places", ["Park Avenue", "Central Park"])],
)
def test_it_finds_names_holding_the_query_prefix_matches_first(parks, bob_client, kind, names):
    # 1 the session's user; 2 the kind's one statement.
    with assert_queries(2):
        body = bob_client.get_json("/api/search", {"q": "park", "type": kind}).json()
    assert [item["name"] for item in body["items"]] == names
    # Paged one at a time, the same order.
    first = bob_client.get_json("/api/search", {"q": "park", "type": kind, "limit": 1}).json()
    rest = bob_client.get_json(
        "/api/search", {"q": "park", "type": kind, "limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert [item["name"] for item in first["items"] + rest["items"]] == names
