"""naive, indexed and cached return the same rows, in the same order, for every kind."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.contrib.auth.models import AnonymousUser

from app.accounts.models import Follow
from app.lab.api import json_bytes
from app.lab.testing import assert_queries
from app.search import selectors
from app.search.normalize import SearchText, search_text_parse
from app.search.schemas import SuggestOut
from app.search.strategies import KINDS
from app.testing.factories import PlaceFactory, UserFactory

QUERIES = [
    "서울",
    "맛",
    "#맛집",
    "ramen",
    "jonh",
    "jo",
    "j",
    "cafe",
    "seoul forest",
    "a_",
    "zzz",
    "'&|!():*\\",
    "trav",
]


def suggested(query: SearchText, strategy: str) -> list[dict[str, Any]]:
    """The typeahead's items as the client receives them."""
    items = [SuggestOut.of(row) for row in selectors.search_suggest(query=query, strategy=strategy)]
    parsed: list[dict[str, Any]] = orjson.loads(json_bytes(items))
    return parsed


@pytest.fixture
def corpus(alice, bob, charlie, make_post):
    """Mixed Korean/English content, a private author, follows and near-miss names."""
    seoul = PlaceFactory(name="Seoul Forest Café", post_count=3)
    PlaceFactory(name="서울숲 카페", post_count=1)
    PlaceFactory(name="Travel Hub", post_count=8)
    for index, name in enumerate(["john", "johnny", "jon.snow", "joanna", "a_b", "jo"]):
        UserFactory(username=name, name=f"Name {index}", follower_count=index * 7)
    Follow.objects.create(follower=charlie, followee=UserFactory(username="jonas"))
    make_post(alice, "서울에서 맛집 탐방 #맛집 #서울", place=seoul)
    make_post(charlie, "ramen in 서울 #맛집 #ramen", likes=12)
    make_post(charlie, "맛있는 저녁 #맛집투어 #travelgram", place=seoul, likes=3)
    make_post(bob, "Seoul forest walk #travel", likes=40)
    make_post(charlie, "cafe hopping #cafe", place=seoul)


@pytest.mark.parametrize("viewer", ["anon", "bob", "charlie"])
def test_it_returns_the_same_results_from_every_strategy(corpus, request, viewer):
    user = request.getfixturevalue(viewer) if viewer != "anon" else None
    who = user or AnonymousUser()
    nonempty = 0
    for q in QUERIES:
        query = search_text_parse(q)
        for kind in KINDS:
            results = {
                name: selectors.search_kind_page(
                    viewer=who, kind=kind, query=query, cursor=None, limit=50, strategy=name
                )
                for name in ("naive", "indexed", "cached")
            }
            naive = [row["id"] for row in results["naive"]["items"]]
            assert [row["id"] for row in results["indexed"]["items"]] == naive, (q, kind)
            assert [row["id"] for row in results["cached"]["items"]] == naive, (q, kind)
            nonempty += bool(naive)
        suggestions = {
            name: suggested(query, name) for name in ("naive", "indexed", "cached", "cached")
        }
        # Field by field, as the API sends them; cached twice: cold, then from Redis.
        assert suggestions["naive"] == suggestions["indexed"] == suggestions["cached"], q
        nonempty += bool(suggestions["naive"])
    assert nonempty >= 25  # the comparison is over real results, not empty lists


def test_it_serves_a_repeated_search_from_the_cache_without_sql(corpus):
    query = search_text_parse("서울")
    anon = AnonymousUser()
    # Cold: one statement per kind, and one for the typeahead.
    with assert_queries(5):
        first = selectors.search_all(viewer=anon, query=query, limit=20, strategy="cached")
        first_suggest = suggested(query, "cached")
    with assert_queries(0):
        again = selectors.search_all(viewer=anon, query=query, limit=20, strategy="cached")
        again_suggest = suggested(query, "cached")
    assert again == first
    assert again_suggest == first_suggest
    assert first_suggest
    assert first["posts"]["items"]


def test_it_picks_the_strategy_from_the_lab_header(corpus, anon_client):
    for name in ("naive", "indexed", "cached"):
        response = anon_client.get_json(
            "/api/search", {"q": "서울"}, HTTP_X_LAB_STRATEGY=f"search={name}"
        )
        assert f'strategy;desc="search={name}"' in response["Server-Timing"]
        assert len(response.json()["posts"]["items"]) == 1
