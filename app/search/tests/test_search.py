"""GET /api/search: Korean and English, hashtags, fuzzy users, ranking, privacy, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from app.accounts.models import Follow, User
from app.posts.models import Post, PostHashtag
from app.testing.data import public_count_set
from app.testing.factories import HashtagFactory, PlaceFactory, UserFactory

SPECIALS = [
    "'",
    '"',
    "&",
    "|",
    "!",
    "(",
    ")",
    ":",
    "*",
    "\\",
    "'&|!():*\\\"",
    "a:*",
    "!a & b",
    "a' | 'b",
    "(((",
    "\\'",
    "%",
    "_",
    "%_%",
]


def ids(items):
    return [item["id"] for item in items]


def test_it_finds_korean_words_with_particles_attached(charlie, anon_client, make_post):
    glued = make_post(charlie, "서울에서 먹은 국밥")
    alone = make_post(charlie, "오늘은 서울 날씨 최고")
    make_post(charlie, "부산 바다")
    body = anon_client.get_json("/api/search", {"q": "서울", "type": "posts"}).json()
    assert sorted(ids(body["items"])) == sorted([glued.pk, alone.pk])


def test_it_finds_english_case_and_accent_insensitively(charlie, anon_client, make_post):
    place = PlaceFactory(name="Café Onion")
    post = make_post(charlie, "Best RAMEN in town", place=place)
    for q in ("ramen", "RAM", "cafe", "café onion"):
        body = anon_client.get_json("/api/search", {"q": q, "type": "posts"}).json()
        assert ids(body["items"]) == [post.pk], q


@pytest.mark.parametrize("q", ["#맛집", "맛집", "\uff03맛집", " #맛집 "])
def test_it_finds_the_hashtag_with_or_without_the_sign(charlie, anon_client, make_post, q):
    post = make_post(charlie, "점심 #맛집")
    make_post(charlie, "저녁 #맛집투어")
    body = anon_client.get_json("/api/search", {"q": q}).json()
    names = [item["name"] for item in body["hashtags"]["items"]]
    assert names[0] == "맛집"  # the exact tag first
    assert set(names) == {"맛집", "맛집투어"}
    assert post.pk in ids(body["posts"]["items"])


def test_it_finds_posts_by_a_hashtag_name_added_after_the_caption(charlie, anon_client, make_post):
    post = make_post(charlie, "no tags in the caption")
    tag = HashtagFactory(name="hiddentag")
    PostHashtag.objects.create(post=post, hashtag=tag, created_at=post.created_at)
    body = anon_client.get_json("/api/search", {"q": "hiddentag", "type": "posts"}).json()
    assert ids(body["items"]) == [post.pk]


def test_it_finds_a_misspelled_username_by_similarity(db, anon_client):
    john = UserFactory(username="john", name="")
    UserFactory(username="mary", name="")
    body = anon_client.get_json("/api/search", {"q": "jonh", "type": "users"}).json()
    assert ids(body["items"]) == [john.pk]


def test_it_finds_partial_usernames_and_names(db, anon_client):
    user = UserFactory(username="the_real_johnny", name="Kim Minji")
    for q in ("johnny", "real_j", "minji", "kim"):
        body = anon_client.get_json("/api/search", {"q": q, "type": "users"}).json()
        assert ids(body["items"]) == [user.pk], q


def test_it_ranks_the_exact_username_first_then_followed_then_popular(db, charlie, charlie_client):
    # The factory's random name could itself match "anna" (Joanna, Anna Kim...).
    User.objects.filter(pk=charlie.pk).update(name="Charlie")
    famous = UserFactory(username="anna_famous", follower_count=50_000)
    followed = UserFactory(username="anna_friend", follower_count=3)
    exact = UserFactory(username="anna", follower_count=0)
    Follow.objects.create(follower=charlie, followee=followed)
    body = charlie_client.get_json("/api/search", {"q": "anna", "type": "users"}).json()
    assert ids(body["items"]) == [exact.pk, followed.pk, famous.pk]
    assert [item["viewer_follows"] for item in body["items"]] == [False, True, False]


def test_it_ranks_hashtags_by_post_count_and_places_by_post_count(db, anon_client):
    public_count_set(HashtagFactory(name="travelgram", post_count=5), 5)
    public_count_set(
        HashtagFactory(name="travel_old", post_count=500, last_used_at=timezone.now()), 500
    )
    PlaceFactory(name="Travel Cafe", post_count=1)
    PlaceFactory(name="Travel Hub", post_count=90)
    body = anon_client.get_json("/api/search", {"q": "trav"}).json()
    assert [h["name"] for h in body["hashtags"]["items"]] == ["travel_old", "travelgram"]
    assert [p["name"] for p in body["places"]["items"]] == ["Travel Hub", "Travel Cafe"]


def test_it_ranks_posts_by_text_engagement_and_recency(charlie, anon_client, make_post):
    old = make_post(charlie, "kimchi", created_at=timezone.now() - timedelta(days=60))
    liked = make_post(charlie, "kimchi stew", likes=500)
    fresh = make_post(charlie, "kimchi again")
    body = anon_client.get_json("/api/search", {"q": "kimchi", "type": "posts"}).json()
    assert ids(body["items"]) == [liked.pk, fresh.pk, old.pk]


@pytest.mark.parametrize(
    ("viewer", "sees_private"),
    [
        ("alice_client", True),
        ("bob_client", True),
        ("charlie_client", False),
        ("anon_client", False),
    ],
)
def test_it_hides_private_posts_from_non_followers(
    request, alice, bob, charlie, make_post, viewer, sees_private
):
    private = make_post(alice, "secret garden #garden")
    public = make_post(charlie, "public garden #garden")
    client = request.getfixturevalue(viewer)
    for q in ("garden", "#garden"):
        body = client.get_json("/api/search", {"q": q}).json()
        expected = [public.pk, private.pk] if sees_private else [public.pk]
        assert sorted(ids(body["posts"]["items"])) == sorted(expected)
        single = client.get_json("/api/search", {"q": q, "type": "posts"}).json()
        assert sorted(ids(single["items"])) == sorted(expected)
    # The account itself is findable by everyone; only its posts are hidden.
    users = client.get_json("/api/search", {"q": "alice", "type": "users"}).json()
    assert ids(users["items"]) == [alice.pk]


@pytest.mark.parametrize("q", SPECIALS)
@pytest.mark.parametrize("kind", ["all", "users", "posts", "hashtags", "places"])
def test_it_survives_text_search_syntax_and_like_wildcards(
    charlie, anon_client, make_post, q, kind
):
    make_post(charlie, "a b c 100% _under_")
    UserFactory(username="a_b")
    response = anon_client.get_json("/api/search", {"q": q, "type": kind})
    assert response.status_code == 200, response.content
    if q in ("%", "_", "%_%") and kind in ("users", "hashtags", "places"):
        # Wildcards are literal: '_' matches the underscore in a_b, '%' matches nothing.
        found = {item.get("username") for item in response.json()["items"]}
        assert found <= {"a_b"}


def test_it_matches_like_wildcards_literally(db, anon_client):
    UserFactory(username="a_b")
    UserFactory(username="axb")
    body = anon_client.get_json("/api/search", {"q": "a_", "type": "users"}).json()
    assert [item["username"] for item in body["items"]] == ["a_b"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "empty_query"),
        ({"q": ""}, "empty_query"),
        ({"q": "   "}, "empty_query"),
        ({"q": "#"}, "empty_query"),
        ({"q": "x" * 101}, "query_too_long"),
        ({"q": "x" * 5000}, "query_too_long"),
        ({"q": "a", "type": "reels"}, "invalid_request"),
        ({"q": "a", "limit": 0}, "invalid_limit"),
        ({"q": "a", "limit": 51}, "invalid_limit"),
        ({"q": "a", "type": "users", "cursor": "garbage!"}, "invalid_cursor"),
        ({"q": "a", "cursor": "W1swLDFdXQ"}, "invalid_cursor"),
    ],
)
def test_it_rejects_bad_input_with_a_400(db, anon_client, params, code):
    response = anon_client.get_json("/api/search", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("kind", ["users", "posts", "hashtags", "places"])
def test_it_pages_one_type_without_gaps_or_repeats(charlie, anon_client, make_post, kind):
    for index in range(7):
        make_post(
            charlie,
            f"pager{index} #pagertag{index}",
            likes=index % 3,
            place=PlaceFactory(name=f"Pager Place {index}", post_count=index % 2),
        )
        UserFactory(username=f"pager_{index}", follower_count=index % 3)
    expected = ids(
        anon_client.get_json("/api/search", {"q": "pager", "type": kind}).json()["items"]
    )
    assert len(expected) == 7
    seen, cursor = [], None
    for _ in range(3):
        params = {"q": "pager", "type": kind, "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = anon_client.get_json("/api/search", params).json()
        seen += ids(body["items"])
        cursor = body["next_cursor"]
    assert seen == expected
    assert cursor is None


def test_it_keeps_the_document_in_step_with_caption_tags_and_place(charlie, make_post):
    place = PlaceFactory(name="Namsan Tower")
    post = make_post(charlie, "night view #야경", place=place)

    def document() -> str:
        return str(Post.objects.values_list("search_document", flat=True).get(pk=post.pk))

    def rebuilt() -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT search_post_document(caption, place_id, id)::text FROM posts_post"
                " WHERE id = %s",
                [post.pk],
            )
            return cursor.fetchone()[0]

    assert {"'night'", "'view'", "'야경'", "'namsan'", "'tower'"} <= {
        part.split(":")[0] for part in document().split()
    }
    assert document() == rebuilt()
    Post.objects.filter(pk=post.pk).update(caption="day view", place=None)
    PostHashtag.objects.filter(post=post).delete()
    assert document() == rebuilt() == "'day':1A 'view':2A"


def test_it_reports_the_strategy_and_query_count_in_server_timing(db, anon_client, bob_client):
    response = bob_client.get_json("/api/search", {"q": "x"})
    assert 'strategy;desc="search=indexed"' in response["Server-Timing"]
    assert '"5 queries"' in response["Server-Timing"]
    assert User.objects.filter(username="bob").exists()


def test_it_rebuilds_documents_after_a_load_that_skipped_the_triggers(charlie, make_post):
    from django.core.management import call_command

    post = make_post(charlie, "stale #fresh")
    Post.objects.filter(pk=post.pk).update(search_document=None)
    call_command("search_reindex")
    assert "'fresh'" in str(Post.objects.values_list("search_document", flat=True).get(pk=post.pk))
