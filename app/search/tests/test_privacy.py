"""Search's privacy rules, per persona: trending is k-anonymous, hashtags count only what
everyone may see (alice is private, bob follows her, charlie is a stranger)."""

from __future__ import annotations

from django.core.cache import cache

from app.accounts.tests.factories import UserFactory
from app.search.models import SearchQuery
from app.search.selectors import TRENDING_KEY


def test_it_never_trends_one_users_search(db, anon_client, alice_client):
    searcher = UserFactory()
    SearchQuery.objects.bulk_create([SearchQuery(user=searcher, query="my ex") for _ in range(9)])
    for client in (anon_client, alice_client):
        assert client.get_json("/api/search/trending").json()["items"] == []


def test_it_trends_a_search_once_k_distinct_users_made_it(db, settings, anon_client):
    settings.SEARCH_TRENDING_MIN_USERS = 2
    first, second = UserFactory(), UserFactory()
    SearchQuery.objects.create(user=first, query="kimchi")
    SearchQuery.objects.create(user=first, query="ramen")
    assert anon_client.get_json("/api/search/trending").json()["items"] == []
    SearchQuery.objects.create(user=second, query="kimchi")
    cache.delete(TRENDING_KEY)  # the first answer is cached for five minutes
    items = anon_client.get_json("/api/search/trending").json()["items"]
    assert items == [{"query": "kimchi", "searches": 2}]
