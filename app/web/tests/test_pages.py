"""Every page renders for the right people: shells for anonymous and signed-in users, a login
redirect where a page needs an account, and a real 404 for hidden or unknown objects."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from app.accounts.models import User
from app.chat import services as chat_services
from app.lab.testing import assert_queries
from app.posts.models import Post
from app.testing.factories import PostFactory

pytestmark = pytest.mark.django_db

SIGNED_IN_ONLY = ["/", "/upload", "/inbox"]
# Hashtag and place pages: app/search/tests/test_web_pages.py (a 404 unless they exist).
PUBLIC = ["/login", "/signup", "/search", "/search?q=seoul"]


def browser(user: User | None = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def alice_post(alice: User) -> Post:
    return PostFactory(author=alice, caption="hello #sunset")


@pytest.fixture
def charlie_post(charlie: User) -> Post:
    return PostFactory(author=charlie, caption="public #sunset")


@pytest.mark.parametrize("path", SIGNED_IN_ONLY)
def test_it_sends_anonymous_users_to_login(path: str) -> None:
    response = browser().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login?next={path}"


def test_it_sends_anonymous_users_to_login_from_a_chat_room() -> None:
    response = browser().get("/inbox/12")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/inbox/12"


@pytest.mark.parametrize("path", PUBLIC)
def test_it_renders_public_pages_for_anonymous_users(path: str) -> None:
    response = browser().get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-viewer=""' in html
    assert 'href="/login"' in html
    assert "/static/web/app.js" in html


@pytest.mark.parametrize("path", [*SIGNED_IN_ONLY, "/search"])
def test_it_renders_pages_for_signed_in_users(path: str, bob: User) -> None:
    response = browser(bob).get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-viewer="bob"' in html
    assert 'href="/u/bob"' in html
    assert 'data-action="logout"' in html


@pytest.mark.parametrize(
    ("path", "page"),
    [("/", "home"), ("/upload", "upload"), ("/inbox", "inbox"), ("/search", "search")],
)
def test_it_tells_the_script_which_page_it_is(path: str, page: str, bob: User) -> None:
    response = browser(bob).get(path)

    assert f'data-page="{page}"' in response.content.decode()


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_it_sends_signed_in_users_away_from_login_and_signup(path: str, bob: User) -> None:
    response = browser(bob).get(f"{path}?next=/u/alice")

    assert response.status_code == 302
    assert response["Location"] == "/u/alice"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:1"])
def test_it_never_redirects_off_site_after_login(target: str, bob: User) -> None:
    anonymous = browser().get("/login", {"next": target})
    signed_in = browser(bob).get("/login", {"next": target})

    assert 'data-next="/"' in anonymous.content.decode()
    assert signed_in["Location"] == "/"


def test_it_passes_a_safe_next_to_the_login_script() -> None:
    response = browser().get("/login", {"next": "/p/5"})

    assert 'data-next="/p/5"' in response.content.decode()


def test_it_renders_a_profile_with_its_counts(alice: User, charlie: User) -> None:
    User.objects.filter(pk=alice.pk).update(follower_count=3, post_count=2)

    response = browser(charlie).get("/u/alice")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-username="alice"' in html
    assert '<strong data-count="follower_count">3</strong>' in html
    assert "<title>@alice · instalab</title>" in html


def test_it_finds_profiles_case_insensitively(alice: User) -> None:
    assert browser().get("/u/Alice").status_code == 200


@pytest.mark.parametrize("username", ["nobody", "a%00b", "a%1Bb"])
def test_it_404s_an_unknown_profile(db: None, username: str) -> None:
    # A name with a control character (a NUL reached PostgreSQL: a 500) names no one either.
    response = browser().get(f"/u/{username}")

    assert response.status_code == 404
    assert "this page isn't available" in response.content.decode().lower()


@pytest.mark.parametrize(
    ("persona", "status"), [("alice", 200), ("bob", 200), ("charlie", 404), (None, 404)]
)
def test_it_shows_a_private_post_only_to_its_owner_and_followers(
    persona: str | None, status: int, alice_post: Post, bob: User, charlie: User
) -> None:
    user = User.objects.get(username=persona) if persona else None

    response = browser(user).get(f"/p/{alice_post.pk}")

    assert response.status_code == status
    if status == 200:
        assert f'data-post="{alice_post.pk}"' in response.content.decode()


def test_it_shows_a_public_post_to_anyone(charlie_post: Post) -> None:
    response = browser().get(f"/p/{charlie_post.pk}")

    assert response.status_code == 200
    assert "Post by @charlie" in response.content.decode()


def test_it_404s_an_unknown_post(db: None) -> None:
    assert browser().get("/p/999999").status_code == 404


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("bob", 200), ("charlie", 404)])
def test_it_opens_a_chat_room_only_for_its_members(
    persona: str, status: int, alice: User, bob: User, charlie: User
) -> None:
    room, _ = chat_services.room_open(user=bob, usernames=["alice"])
    user = User.objects.get(username=persona)

    response = browser(user).get(f"/inbox/{room.pk}")

    assert response.status_code == status
    if status == 200:
        assert f'data-room="{room.pk}"' in response.content.decode()


def test_it_points_the_chat_socket_at_the_same_origin_by_default(bob: User, settings: Any) -> None:
    settings.LAB_WS_URL = ""

    response = browser(bob).get("/inbox")

    assert 'data-ws="ws://testserver/ws/"' in response.content.decode()


def test_it_points_the_chat_socket_where_the_server_runner_says(bob: User, settings: Any) -> None:
    settings.LAB_WS_URL = "ws://127.0.0.1:8001/ws/"

    response = browser(bob).get("/inbox")

    assert 'data-ws="ws://127.0.0.1:8001/ws/"' in response.content.decode()


def test_it_escapes_what_the_url_says(db: None) -> None:
    response = browser().get('/tags/%3Cimg%20src=x%20onerror=alert(1)%3E"')

    assert response.status_code == 404  # no such tag
    assert "<img src=x" not in response.content.decode()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/static/web/app.js", "text/javascript"), ("/static/web/app.css", "text/css")],
)
def test_it_serves_its_own_static_files(path: str, content_type: str, db: None) -> None:
    response = browser().get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)


def test_it_renders_a_post_page_in_one_query_for_anonymous_users(charlie_post: Post) -> None:
    client = browser()
    # 1. the post with its author (posts.selectors.post_visible_get); a public author needs
    #    no follow lookup, and an anonymous request without a cookie reads no session.
    with assert_queries(1):
        response = client.get(f"/p/{charlie_post.pk}")

    assert response.status_code == 200


def test_it_renders_a_profile_page_in_one_query_for_anonymous_users(alice: User) -> None:
    client = browser()
    # 1. the user by username (accounts.selectors.user_get)
    with assert_queries(1):
        response = client.get("/u/alice")

    assert response.status_code == 200
