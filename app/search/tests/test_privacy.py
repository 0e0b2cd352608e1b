"""Search's privacy rules, per persona: trending is k-anonymous, hashtags count only what
everyone may see (alice is private, bob follows her, charlie is a stranger)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection

from app.accounts import services as accounts
from app.accounts.models import User
from app.lab.api import ApiError
from app.posts import services as posts
from app.search.models import SearchQuery
from app.search.selectors import TRENDING_KEY, hashtag_page_shaped
from app.search.services import search_documents_rebuild
from app.testing.factories import UserFactory


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


# --- hashtags: shared counts count public posts; private-only tags are not revealed --------

PERSONAS = ("alice_client", "bob_client", "charlie_client", "anon_client")


def suggested(client, prefix: str) -> list[str]:
    items = client.get_json("/api/search/suggest", {"q": prefix}).json()["items"]
    return [item["text"] for item in items if item["kind"] == "hashtag"]


def found(client, q: str) -> dict[str, int]:
    body = client.get_json("/api/search", {"q": q, "type": "hashtags"}).json()
    return {item["name"]: item["post_count"] for item in body["items"]}


def test_a_hashtag_only_private_posts_carry_is_revealed_to_nobody_who_cannot_see_them(
    request, alice, bob, charlie, make_post
):
    make_post(alice, "our secret #affair2026")
    make_post(charlie, "public #affairs")
    for persona in PERSONAS:
        client = request.getfixturevalue(persona)
        # Suggestions and search counts are shared by everyone: public posts only.
        assert suggested(client, "affa") == ["affairs"], persona
        assert suggested(client, "affair2026") == [], persona
        assert found(client, "affair") == {"affairs": 1}, persona
    for persona, status in (("anon_client", 404), ("charlie_client", 404)):
        response = request.getfixturevalue(persona).get_json("/api/hashtags/affair2026")
        assert response.status_code == status, persona
        assert response.json()["error"]["code"] == "not_found"
    for persona in ("alice_client", "bob_client"):
        body = request.getfixturevalue(persona).get_json("/api/hashtags/affair2026").json()
        assert len(body["items"]) == 1, persona
        assert body["hashtag"]["post_count"] == 0, persona


def test_shared_hashtag_counts_leave_private_posts_out(request, alice, bob, make_post):
    make_post(alice, "#seoulnight one")
    make_post(alice, "#seoulnight two")
    other = UserFactory()
    make_post(other, "#seoulnight three")
    for persona in PERSONAS:
        client = request.getfixturevalue(persona)
        assert found(client, "seoulnight") == {"seoulnight": 1}, persona
        # Twice: cold (SQL), then warm (the page's window in Redis).
        for _ in range(2):
            header = client.get_json("/api/hashtags/seoulnight").json()["hashtag"]
            assert header["post_count"] == 1, persona


def test_counts_follow_an_authors_privacy_and_deletes(
    charlie, charlie_client, anon_client, make_post, django_capture_on_commit_callbacks
):
    kept = make_post(charlie, "#flipside")
    doomed = make_post(charlie, "#flipside again")
    assert anon_client.get_json("/api/hashtags/flipside").json()["hashtag"]["post_count"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        posts.post_delete(user=charlie, post_id=doomed.pk)
    assert anon_client.get_json("/api/hashtags/flipside").json()["hashtag"]["post_count"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        accounts.user_update_profile(user=User.objects.get(pk=charlie.pk), is_private=True)
    assert anon_client.get_json("/api/hashtags/flipside").status_code == 404
    assert charlie_client.get_json("/api/hashtags/flipside").json()["items"][0]["id"] == kept.pk
    with django_capture_on_commit_callbacks(execute=True):
        accounts.user_update_profile(user=User.objects.get(pk=charlie.pk), is_private=False)
    assert anon_client.get_json("/api/hashtags/flipside").json()["hashtag"]["post_count"] == 1


def test_a_bulk_load_without_triggers_gets_its_counts_from_the_rebuild(charlie, make_post):
    with connection.cursor() as db:
        db.execute("SET LOCAL instalab.search_sync = 'off'")
    make_post(charlie, "#bulkloaded")
    assert public_count("bulkloaded") == 0
    search_documents_rebuild()
    assert public_count("bulkloaded") == 1


def public_count(name: str) -> int:
    with connection.cursor() as db:
        db.execute("SELECT public_post_count FROM posts_hashtag WHERE name = %s", [name])
        row = db.fetchone()
    assert row is not None
    return int(row[0])


def test_bad_parameters_do_not_tell_a_private_only_hashtag_exists(alice, anon_client, make_post):
    make_post(alice, "#hushhush")
    for params in ({"cursor": "zz"}, {"limit": 51}):
        response = anon_client.get_json("/api/hashtags/hushhush", params)
        assert response.status_code == 404, params


@pytest.mark.parametrize(("viewer", "sees"), [("alice", True), ("bob", True), ("charlie", False)])
def test_the_all_sql_hashtag_page_applies_the_same_rule(request, make_post, viewer, sees):
    """The twin the API serves while Redis is down."""
    post = make_post(request.getfixturevalue("alice"), "#hushhush")
    user = request.getfixturevalue(viewer)
    for cursor in (None, "zz"):
        if not sees:
            with pytest.raises(ApiError) as refused:
                hashtag_page_shaped(
                    viewer=user, name="hushhush", order="recent", cursor=cursor, limit=None
                )
            assert refused.value.status == 404
    if sees:
        tag, page = hashtag_page_shaped(
            viewer=user, name="hushhush", order="recent", cursor=None, limit=None
        )
        assert (tag.post_count, [item.pk for item in page["items"]]) == (0, [post.pk])
