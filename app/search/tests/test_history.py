"""Search history (record, dedup, newest first, delete one or all), trending and typeahead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from app.lab.testing import assert_queries
from app.search.models import SearchQuery
from app.search.selectors import history_page
from app.testing.data import public_count_set
from app.testing.factories import HashtagFactory, PlaceFactory, UserFactory


def record(client, query, **extra):
    return client.post_json("/api/search/history", {"query": query, **extra})


def test_it_records_normalised_history_deduplicated_newest_first(alice_client):
    for query in ("Ramen", "#맛집", "seoul", "RAMEN  "):
        assert record(alice_client, query).status_code == 201
    assert (
        record(alice_client, "john", kind="click", target_type="user", target_id=7).status_code
        == 201
    )
    body = alice_client.get_json("/api/search/history").json()
    assert [(e["query"], e["kind"]) for e in body["items"]] == [
        ("john", "click"),
        ("ramen", "query"),
        ("seoul", "query"),
        ("맛집", "query"),
    ]
    assert body["items"][0]["target_type"] == "user"
    assert body["items"][0]["target_id"] == 7


def test_it_hides_duplicates_a_bulk_load_left_behind(alice, alice_client):
    now = timezone.now()
    SearchQuery.objects.bulk_create(
        [SearchQuery(user=alice, query=q) for q in ("a", "b", "a", "a")]
    )
    SearchQuery.objects.filter(user=alice).update(created_at=now)
    body = alice_client.get_json("/api/search/history").json()
    assert sorted(e["query"] for e in body["items"]) == ["a", "b"]


def test_it_pages_history_by_keyset(alice_client):
    for index in range(5):
        record(alice_client, f"q{index}")
    first = alice_client.get_json("/api/search/history", {"limit": 3}).json()
    second = alice_client.get_json(
        "/api/search/history", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [e["query"] for e in first["items"] + second["items"]] == ["q4", "q3", "q2", "q1", "q0"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("count", [2, 20])
def test_it_lists_history_in_one_statement(alice, count):
    SearchQuery.objects.bulk_create([SearchQuery(user=alice, query=f"q{i}") for i in range(count)])
    # 1 the page, duplicates excluded by an anti-join on (user, query).
    with assert_queries(1):
        result = history_page(user=alice, cursor=None, limit=20)
        assert len([entry.query for entry in result["items"]]) == count


def test_it_deletes_one_entry_or_all_and_only_the_owners(alice_client, bob_client, charlie_client):
    for query in ("one", "two"):
        record(alice_client, query)
    record(bob_client, "bobs")
    entries = alice_client.get_json("/api/search/history").json()["items"]
    # Another user's entry is not found, not forbidden.
    assert charlie_client.delete_json(f"/api/search/history/{entries[0]['id']}").status_code == 404
    assert alice_client.delete_json(f"/api/search/history/{entries[0]['id']}").status_code == 204
    assert [e["query"] for e in alice_client.get_json("/api/search/history").json()["items"]] == [
        "one"
    ]
    assert alice_client.delete_json("/api/search/history").status_code == 204
    assert alice_client.get_json("/api/search/history").json()["items"] == []
    assert [e["query"] for e in bob_client.get_json("/api/search/history").json()["items"]] == [
        "bobs"
    ]
    assert charlie_client.get_json("/api/search/history").json()["items"] == []


def test_it_requires_login_for_history(anon_client, db):
    assert anon_client.get_json("/api/search/history").status_code == 401
    assert anon_client.post_json("/api/search/history", {"query": "x"}).status_code == 401
    assert anon_client.delete_json("/api/search/history").status_code == 401


@pytest.mark.parametrize(
    "payload",
    [
        {"query": "   "},
        {"query": "x" * 101},
        {"query": "x", "kind": "click"},
        {"query": "x", "target_type": "user", "target_id": 1},
        {"query": "x", "kind": "like"},
    ],
)
def test_it_rejects_bad_history_entries(alice_client, payload):
    response = alice_client.post_json("/api/search/history", payload)
    assert response.status_code == 400


def test_it_trends_the_last_day_by_distinct_users_and_caches_it(db, anon_client):
    users = [UserFactory() for _ in range(4)]
    rows = [SearchQuery(user=u, query="맛집") for u in users]
    rows += [SearchQuery(user=u, query="ramen") for u in users[:3] for _ in range(2)]
    rows += [SearchQuery(user=u, query="old") for u in users for _ in range(2)]
    SearchQuery.objects.bulk_create(rows)
    SearchQuery.objects.filter(query="old").update(created_at=timezone.now() - timedelta(days=2))
    body = anon_client.get_json("/api/search/trending").json()
    assert body["items"] == [{"query": "맛집", "searches": 4}, {"query": "ramen", "searches": 3}]
    SearchQuery.objects.bulk_create([SearchQuery(user=u, query="new") for u in users])
    with assert_queries(0):
        cached = anon_client.get_json("/api/search/trending").json()
    assert cached == body


def test_it_suggests_from_one_character_across_kinds_exact_first(db, anon_client):
    for index in range(10):
        UserFactory(username=f"m{index}user", follower_count=100 + index)
    public_count_set(HashtagFactory(name="맛집", post_count=1), 1)
    public_count_set(HashtagFactory(name="맛집투어", post_count=999), 999)
    PlaceFactory(name="맛집골목", post_count=5)
    body = anon_client.get_json("/api/search/suggest", {"q": "m"}).json()
    assert len(body["items"]) == 8
    assert [item["text"] for item in body["items"][:2]] == ["m9user", "m8user"]
    korean = anon_client.get_json("/api/search/suggest", {"q": "맛집"}).json()
    assert [(i["kind"], i["text"]) for i in korean["items"]] == [
        ("hashtag", "맛집"),
        ("hashtag", "맛집투어"),
        ("place", "맛집골목"),
    ]
    # A leading # asks for hashtags only.
    tags = anon_client.get_json("/api/search/suggest", {"q": "#맛집"}).json()
    assert [(i["kind"], i["text"]) for i in tags["items"]] == [
        ("hashtag", "맛집"),
        ("hashtag", "맛집투어"),
    ]
    assert anon_client.get_json("/api/search/suggest", {"q": "맛"}).json()["items"][0]["text"] == (
        "맛집투어"
    )


@pytest.mark.parametrize("q", ["", " ", "x" * 101, "#" * 401])
def test_it_rejects_an_empty_or_long_suggest_query(db, anon_client, q):
    assert anon_client.get_json("/api/search/suggest", {"q": q}).status_code == 400
