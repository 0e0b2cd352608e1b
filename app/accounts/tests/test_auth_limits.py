"""Login and signup throttling per account and per address (checked before any password hash),
the per-process bound on password hashes at once, and a login that replaces another user's
session."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher

from app.accounts.models import User
from app.core import ratelimit
from app.testing.client import ApiClient
from app.testing.factories import UserFactory

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "correct-horse-battery-9"


class CountingHasher(MD5PasswordHasher):
    """The test suite's hasher, counting the hashes computed: one per password checked (its
    verify() hashes), and one for an unknown username (Django hashes anyway, so that timing
    does not tell which usernames exist)."""

    checks = 0

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.checks += 1
        return super().encode(password, salt)


@pytest.fixture
def hasher(settings: Any) -> type[CountingHasher]:
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.checks = 0
    return CountingHasher


@pytest.fixture
def limits(settings: Any) -> dict[str, str]:
    settings.RATE_LIMITS = {
        "login.account": "3/15m",
        "login.address": "5/5m",
        "signup.account": "2/h",
        "signup.address": "3/h",
    }
    return settings.RATE_LIMITS


@pytest.fixture
def erin(hasher: type[CountingHasher]) -> User:
    user = UserFactory(username="erin")
    user.set_password(GOOD_PASSWORD)
    user.save()
    hasher.checks = 0
    return user


def login(username: str, password: str, *, address: str = "192.0.2.10", client: Any = None):
    client = client or ApiClient()
    return client.post_json(
        "/api/auth/login", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def assert_throttled(response: Any, code: str) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == code
    assert "try again in" in response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_an_account_is_locked_after_its_wrong_passwords_before_any_hash(
    limits: dict[str, str], erin: User, hasher: type[CountingHasher]
) -> None:
    for _ in range(3):
        assert login("erin", "wrong-password").status_code == 401
    assert hasher.checks == 3

    # Even the right password, from another address: the account's window is used up.
    response = login("Erin", GOOD_PASSWORD, address="198.51.100.20")

    assert_throttled(response, "too_many_attempts")
    assert hasher.checks == 3  # refused before the password was hashed
    assert login("someone-else", "wrong-password").status_code == 401


def test_an_address_is_throttled_across_usernames(
    limits: dict[str, str], hasher: type[CountingHasher]
) -> None:
    for index in range(5):
        assert login(f"guess{index}", "wrong-password").status_code == 401

    assert_throttled(login("guess-next", "wrong-password"), "too_many_attempts")
    assert hasher.checks == 5
    # Another client is unaffected.
    assert login("guess-next", "wrong-password", address="198.51.100.20").status_code == 401


def test_successful_logins_are_not_held_against_the_account_or_the_address(
    limits: dict[str, str], erin: User
) -> None:
    assert login("erin", "wrong-password").status_code == 401
    for _ in range(8):
        assert login("erin", GOOD_PASSWORD).status_code == 200
    assert login("erin", "wrong-password").status_code == 401
    assert login("erin", "wrong-password").status_code == 401
    assert_throttled(login("erin", "wrong-password"), "too_many_attempts")


def test_signup_is_throttled_per_address_and_per_username(
    limits: dict[str, str], hasher: type[CountingHasher]
) -> None:
    def signup(username: str, address: str = "192.0.2.10"):
        body = {"username": username, "email": f"{username}@example.com", "password": "x"}
        body["password"] = GOOD_PASSWORD
        return ApiClient().post_json("/api/auth/signup", body, REMOTE_ADDR=address)

    assert signup("dave").status_code == 201
    assert signup("dave").status_code == 409  # taken: still an attempt on that name
    assert_throttled(signup("dave", address="198.51.100.20"), "too_many_signups")

    assert signup("fay").status_code == 201
    assert_throttled(signup("gus"), "too_many_signups")
    assert not User.objects.filter(username="gus").exists()
    assert signup("gus", address="198.51.100.21").status_code == 201


# --- a login replaces the session it arrives with ------------------------------------------


def test_logging_in_while_signed_in_as_someone_else_replaces_the_session(
    erin: User, hasher: type[CountingHasher]
) -> None:
    frank = UserFactory(username="frank")
    frank.set_password(GOOD_PASSWORD)
    frank.save()
    browser = ApiClient()
    first = login("erin", GOOD_PASSWORD, client=browser)
    assert first.status_code == 200
    assert browser.get("/api/me").json()["username"] == "erin"

    second = login("frank", GOOD_PASSWORD, client=browser)

    assert second.status_code == 200, second.content
    assert second.json()["user"]["username"] == "frank"
    assert second.json()["token"] != first.json()["token"]
    assert browser.get("/api/me").json()["username"] == "frank"
    assert ApiClient(token=second.json()["token"]).get_json("/api/me").json()["id"] == frank.pk
    # Erin's session ended with the switch: her token no longer signs anyone in.
    assert ApiClient(token=first.json()["token"]).get_json("/api/me").status_code == 401


def test_a_bearer_client_logging_in_as_another_user_gets_a_fresh_token(
    erin: User, hasher: type[CountingHasher]
) -> None:
    frank = UserFactory(username="frank")
    frank.set_password(GOOD_PASSWORD)
    frank.save()
    token = login("erin", GOOD_PASSWORD).json()["token"]

    response = login("frank", GOOD_PASSWORD, client=ApiClient(token=token))

    assert response.status_code == 200, response.content
    assert ApiClient(token=response.json()["token"]).get_json("/api/me").json()["id"] == frank.pk
    assert ApiClient(token=token).get_json("/api/me").status_code == 401


def test_when_the_process_is_hashing_all_it_may_a_login_is_503_and_not_counted(
    limits: dict[str, str], erin: User, settings: Any, hasher: type[CountingHasher]
) -> None:
    settings.PASSWORD_HASH_SLOTS = 1
    settings.PASSWORD_HASH_QUEUE = 0
    with ratelimit.password_slot():  # another request of this process is hashing
        responses = [login("erin", "wrong-password") for _ in range(5)]

    for response in responses:
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "busy"
        assert response["Retry-After"] == "1"
    assert hasher.checks == 0
    # None of the five counted against the account (3 per window): three wrong ones still 401.
    for _ in range(3):
        assert login("erin", "wrong-password").status_code == 401
    assert_throttled(login("erin", GOOD_PASSWORD), "too_many_attempts")


def test_a_waiting_login_gets_its_turn(
    erin: User, settings: Any, hasher: type[CountingHasher]
) -> None:
    settings.PASSWORD_HASH_SLOTS = 1
    settings.PASSWORD_HASH_QUEUE = 1
    settings.PASSWORD_HASH_WAIT = 5.0
    holder = ratelimit.password_slot()
    holder.__enter__()
    releaser = threading.Timer(0.2, holder.__exit__, args=(None, None, None))
    releaser.start()

    response = login("erin", GOOD_PASSWORD)

    releaser.join()
    assert response.status_code == 200, response.content


def test_refusals_are_not_logged_one_line_each(
    limits: dict[str, str], erin: User, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        login("erin", "wrong-password")
    caplog.clear()

    for _ in range(20):
        assert login("erin", "wrong-password").status_code == 429
    login("someone-else", "wrong-password")

    assert "Too Many Requests" not in caplog.text
    assert "Unauthorized: /api/auth/login" in caplog.text  # other 4xx still are
