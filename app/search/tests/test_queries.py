"""Exact query budgets: type=all <= 5 and one type <= 2 statements, authentication included."""

from __future__ import annotations

import pytest

from app.lab.testing import assert_queries
from app.testing.data import public_count_set
from app.testing.factories import HashtagFactory, PlaceFactory, UserFactory


@pytest.fixture
def many(charlie, make_post):
    """Twenty-odd matches of every kind for `kim`."""

    def build(count: int) -> None:
        for index in range(count):
            UserFactory(username=f"kim{index}")
            public_count_set(HashtagFactory(name=f"kimchi{index}", post_count=index), index + 1)
            place = PlaceFactory(name=f"Kimbap {index}", post_count=index)
            make_post(charlie, f"kimchi {index} #kim{index}", place=place)

    return build


def server_timing_queries(response) -> int:
    header = response["Server-Timing"]
    return int(header.split('desc="')[1].split(" queries")[0])


@pytest.mark.parametrize("count", [2, 20])
def test_it_searches_everything_in_five_statements_with_auth(many, bob_client, count):
    many(count)
    # 1 the session's user (auth); 2 users; 3 posts (author, place and thumbnail joined or
    # subselected); 4 hashtags; 5 places.
    with assert_queries(5):
        response = bob_client.get_json("/api/search", {"q": "kim"})
    body = response.json()
    assert len(body["posts"]["items"]) == count
    assert len(body["hashtags"]["items"]) == min(2 * count, 20)
    assert server_timing_queries(response) == 5


@pytest.mark.parametrize("count", [2, 20])
@pytest.mark.parametrize("kind", ["users", "posts", "hashtags", "places"])
def test_it_searches_one_type_in_two_statements_with_auth(many, bob_client, kind, count):
    many(count)
    # 1 the session's user; 2 the kind's one statement (candidates, scores and page).
    with assert_queries(2):
        response = bob_client.get_json("/api/search", {"q": "kim", "type": kind})
    assert len(response.json()["items"]) >= count
    assert server_timing_queries(response) == 2


@pytest.mark.parametrize("count", [2, 20])
def test_it_suggests_in_one_statement_then_none_from_the_cache(many, anon_client, count):
    many(count)
    # 1 the UNION ALL of users, hashtags and places by prefix (then cached).
    with assert_queries(1):
        cold = anon_client.get_json("/api/search/suggest", {"q": "k"})
    assert 'strategy;desc="search=cached"' in cold["Server-Timing"]
    # (the items' JSON from one Redis GET; "K" normalises to the same prefix)
    with assert_queries(0):
        warm = anon_client.get_json("/api/search/suggest", {"q": "K"})
    assert warm.json() == cold.json()
    assert len(cold.json()["items"]) == 8


def test_it_suggests_from_sql_every_time_when_a_header_asks(many, anon_client):
    many(2)
    for _ in range(2):
        # 1 the UNION ALL of users, hashtags and places by prefix.
        with assert_queries(1):
            response = anon_client.get_json(
                "/api/search/suggest", {"q": "k"}, HTTP_X_LAB_STRATEGY="search=indexed"
            )
        assert 'strategy;desc="search=indexed"' in response["Server-Timing"]
