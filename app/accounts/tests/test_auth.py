"""Signup, login, logout, /api/me and CSRF: the auth contract and its bad inputs."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from app.accounts.models import User
from app.testing.client import ApiClient, error_code
from app.testing.factories import UserFactory

GOOD_PASSWORD = "correct-horse-battery-9"


def signup(client: ApiClient, **overrides):
    body = {"username": "dave", "email": "dave@example.com", "password": GOOD_PASSWORD}
    body.update(overrides)
    return client.post_json("/api/auth/signup", body)


# --- signup -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_signs_up_logs_in_and_returns_a_working_token(anon_client):
    response = signup(anon_client, username="Dave.Photo")

    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "dave.photo"
    assert body["user"]["email"] == "dave@example.com"
    user = User.objects.get(username="dave.photo")
    assert user.check_password(GOOD_PASSWORD)
    # Logged in by cookie on this client, and by bearer token on a fresh one.
    assert anon_client.get("/api/me").json()["id"] == user.pk
    assert ApiClient(token=body["token"]).get_json("/api/me").json()["id"] == user.pk


@pytest.mark.django_db
def test_it_refuses_a_username_taken_in_any_case(anon_client):
    UserFactory(username="dave")

    response = signup(anon_client, username="DAVE")

    assert response.status_code == 409
    assert error_code(response) == "username_taken"
    assert User.objects.filter(username__iexact="dave").count() == 1


@pytest.mark.django_db
def test_it_lists_every_password_problem(anon_client):
    response = signup(anon_client, password="1234")

    assert response.status_code == 400
    assert error_code(response) == "invalid_signup"
    message = response.json()["error"]["message"]
    assert "too short" in message
    assert "too common" in message
    assert "entirely numeric" in message
    assert not User.objects.filter(username="dave").exists()


@pytest.mark.django_db
def test_it_refuses_a_password_like_the_username(anon_client):
    response = signup(anon_client, username="dave.photographer", password="dave.photographer")

    assert response.status_code == 400
    assert "too similar" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"username": "no spaces"}, "username:"),
        ({"username": ".dotfirst"}, "username:"),
        ({"username": "a..b"}, "username:"),
        ({"username": "한글"}, "username:"),
        ({"email": "not-an-email"}, "email:"),
    ],
)
@pytest.mark.django_db
def test_it_refuses_bad_usernames_and_emails(anon_client, overrides, fragment):
    response = signup(anon_client, **overrides)

    assert response.status_code == 400
    assert error_code(response) == "invalid_signup"
    assert fragment in response.json()["error"]["message"]
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"email": "d@example.com", "password": GOOD_PASSWORD},
        {"username": "dave", "password": GOOD_PASSWORD},
        {"username": "dave", "email": "d@example.com"},
        {"username": "x" * 31, "email": "d@example.com", "password": GOOD_PASSWORD},
        {"username": "dave", "email": "d@example.com", "password": "p" * 257},
        {"username": 12, "email": "d@example.com", "password": GOOD_PASSWORD},
    ],
)
@pytest.mark.django_db
def test_it_refuses_missing_overlong_and_mistyped_signup_fields(anon_client, body):
    response = anon_client.post_json("/api/auth/signup", body)

    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert User.objects.count() == 0


# --- login and logout -------------------------------------------------------------------


@pytest.mark.django_db
def test_it_logs_in_with_a_cookie_and_a_bearer_token():
    user = UserFactory(username="erin", password=GOOD_PASSWORD)
    browser = ApiClient()

    response = browser.post_json("/api/auth/login", {"username": "Erin", "password": GOOD_PASSWORD})

    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["user"]["id"] == user.pk
    assert response.cookies["sessionid"].value == token
    assert browser.get("/api/me").json()["username"] == "erin"
    assert ApiClient(token=token).get_json("/api/me").json()["username"] == "erin"


@pytest.mark.parametrize(
    ("username", "password"), [("erin", "wrong-password"), ("nobody", GOOD_PASSWORD)]
)
@pytest.mark.django_db
def test_it_refuses_bad_credentials(anon_client, username, password):
    UserFactory(username="erin", password=GOOD_PASSWORD)

    response = anon_client.post_json(
        "/api/auth/login", {"username": username, "password": password}
    )

    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"
    assert anon_client.get("/api/me").status_code == 401


@pytest.mark.django_db
def test_it_refuses_an_inactive_account(anon_client):
    UserFactory(username="erin", password=GOOD_PASSWORD, is_active=False)

    response = anon_client.post_json(
        "/api/auth/login", {"username": "erin", "password": GOOD_PASSWORD}
    )

    assert response.status_code == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.django_db
def test_it_refuses_login_bodies_that_a_cross_site_form_could_send(content_type):
    """Login CSRF: a form can post text/plain JSON, but never application/json."""
    UserFactory(username="erin", password=GOOD_PASSWORD)
    client = Client()
    body = json.dumps({"username": "erin", "password": GOOD_PASSWORD})

    response = client.post("/api/auth/login", body, content_type=content_type)

    assert response.status_code in (400, 415)
    assert "error" in response.json()
    assert "sessionid" not in response.cookies
    assert client.get("/api/me").status_code == 401


@pytest.mark.django_db
def test_it_refuses_a_signup_sent_as_text_plain():
    response = Client().post(
        "/api/auth/signup",
        json.dumps({"username": "dave", "email": "d@example.com", "password": GOOD_PASSWORD}),
        content_type="text/plain",
    )

    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "body", ['{"username": "erin", "password": ', "[1, 2]", "null", '"erin"', "{}"]
)
@pytest.mark.django_db
def test_it_answers_malformed_login_bodies_with_400(anon_client, body):
    response = anon_client.post("/api/auth/login", body, content_type="application/json")

    assert response.status_code == 400
    assert "code" in response.json()["error"]


@pytest.mark.django_db
def test_logout_kills_the_token(bob_client):
    assert bob_client.get_json("/api/me").status_code == 200

    response = bob_client.post_json("/api/auth/logout")

    assert response.status_code == 200
    me = bob_client.get_json("/api/me")
    assert me.status_code == 401
    assert error_code(me) == "not_authenticated"


@pytest.mark.django_db
def test_logout_needs_a_login(anon_client):
    response = anon_client.post_json("/api/auth/logout")

    assert response.status_code == 401


# --- /api/me ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_me_needs_a_login(anon_client):
    response = anon_client.get_json("/api/me")

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


@pytest.mark.django_db
def test_me_returns_the_full_own_profile(alice, bob, alice_client):
    body = alice_client.get_json("/api/me").json()

    assert body == {
        "id": alice.pk,
        "username": "alice",
        "email": "alice@example.com",
        "name": alice.name,
        "bio": alice.bio,
        "avatar_url": None,
        "is_private": True,
        "follower_count": 1,
        "following_count": 0,
        "post_count": 0,
    }


def patch_me(client: ApiClient, body, content_type: str = "application/json"):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.patch(
        "/api/me",
        raw,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {client.token}" if client.token else "",
    )


@pytest.mark.django_db
def test_me_patch_changes_only_the_fields_sent(alice, alice_client):
    old_bio = alice.bio

    response = patch_me(alice_client, {"name": "  Alice Kim  ", "is_private": False})

    assert response.status_code == 200
    assert response.json()["name"] == "Alice Kim"
    alice.refresh_from_db()
    assert (alice.name, alice.bio, alice.is_private) == ("Alice Kim", old_bio, False)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "n" * 65},
        {"bio": "b" * 151},
        {"is_private": "sometimes"},
        {"name": 5},
        "not json",
    ],
)
@pytest.mark.django_db
def test_me_patch_refuses_bad_values(alice, alice_client, body):
    before = (alice.name, alice.bio, alice.is_private)

    response = patch_me(alice_client, body)

    assert response.status_code == 400
    assert "code" in response.json()["error"]
    alice.refresh_from_db()
    assert (alice.name, alice.bio, alice.is_private) == before


@pytest.mark.django_db
def test_me_patch_accepts_the_longest_allowed_values(alice, alice_client):
    response = patch_me(alice_client, {"name": "n" * 64, "bio": "b" * 150})

    assert response.status_code == 200
    alice.refresh_from_db()
    assert (len(alice.name), len(alice.bio)) == (64, 150)


@pytest.mark.django_db
def test_me_patch_refuses_a_non_json_content_type(alice, alice_client):
    response = patch_me(alice_client, json.dumps({"name": "x"}), content_type="text/plain")

    assert response.status_code == 415
    alice.refresh_from_db()
    assert alice.name != "x"


@pytest.mark.django_db
def test_me_patch_needs_a_login(alice):
    response = patch_me(ApiClient(), {"name": "mallory"})

    assert response.status_code == 401
    alice.refresh_from_db()
    assert alice.name != "mallory"


# --- CSRF -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_csrf_endpoint_sets_the_cookie():
    client = Client(enforce_csrf_checks=True)

    response = client.get("/api/auth/csrf")

    assert response.status_code == 200
    assert response.json()["csrf_token"]
    assert response.cookies["csrftoken"].value


@pytest.fixture
def cookie_client(charlie) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(charlie)
    return client


@pytest.mark.django_db
def test_a_cookie_session_post_without_csrf_is_refused(cookie_client, charlie):
    target = UserFactory(username="dana")

    response = cookie_client.post("/api/users/dana/follow", content_type="application/json")

    assert response.status_code == 403
    assert error_code(response) == "csrf_failed"
    target.refresh_from_db()
    assert target.follower_count == 0


@pytest.mark.django_db
def test_a_cookie_session_post_with_csrf_succeeds(cookie_client, charlie):
    target = UserFactory(username="dana")
    token = cookie_client.get("/api/auth/csrf").json()["csrf_token"]

    response = cookie_client.post(
        "/api/users/dana/follow", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert response.status_code == 200
    assert response.json() == {"status": "following"}
    target.refresh_from_db()
    assert target.follower_count == 1


@pytest.mark.django_db
def test_a_cookie_session_patch_and_logout_need_csrf(cookie_client, charlie):
    patched = cookie_client.patch("/api/me", '{"bio": "x"}', content_type="application/json")
    logged_out = cookie_client.post("/api/auth/logout", content_type="application/json")

    assert (patched.status_code, logged_out.status_code) == (403, 403)
    assert cookie_client.get("/api/me").status_code == 200


@pytest.mark.django_db
def test_a_bearer_post_needs_no_csrf(charlie_client):
    UserFactory(username="dana")
    # Same CSRF enforcement as the cookie client above; only the credential differs.
    bearer = ApiClient(token=charlie_client.token, enforce_csrf_checks=True)

    response = bearer.post_json("/api/users/dana/follow")

    assert response.status_code == 200
    assert response.json() == {"status": "following"}
