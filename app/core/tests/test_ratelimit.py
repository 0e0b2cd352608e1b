"""The rate limiter on real Redis: windows, refusals with their wait, refunds, atomicity under
parallel attempts, the in-memory fallback without Redis, and the client address it keys by."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings
from django_redis import get_redis_connection

from app.core import ratelimit
from app.core.ratelimit import Rule, Throttled, client_address

BROKEN = "ratelimit-broken"


@pytest.fixture
def limits(settings: Any) -> dict[str, str]:
    settings.RATE_LIMITS = {"login.account": "3/m", "login.address": "5/m"}
    return settings.RATE_LIMITS


@pytest.fixture
def no_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The limiter aimed at a Redis unix socket that does not exist."""
    caches = {
        **settings.CACHES,
        BROKEN: {**settings.CACHES["default"], "LOCATION": f"unix://{tmp_path}/no-redis.sock"},
    }
    with override_settings(CACHES=caches):
        monkeypatch.setattr(ratelimit, "REDIS_ALIAS", BROKEN)
        yield


def counter_keys() -> list[bytes]:
    conn = get_redis_connection("default")
    return sorted(conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:rl:*"))


def test_a_rule_reads_a_count_and_a_window() -> None:
    assert Rule.parse("x", "10/15m") == Rule(name="x", limit=10, window=900)
    assert Rule.parse("x", "30/m") == Rule(name="x", limit=30, window=60)
    assert Rule.parse("x", " 5 / h ") == Rule(name="x", limit=5, window=3600)
    assert Rule.parse("x", "2/1d").window == 86400
    for bad in ("", "10", "ten/m", "10/15", "10/15x", "0/m", "-1/m"):
        with pytest.raises(ValueError):
            Rule.parse("x", bad)


def test_it_refuses_past_the_limit_with_the_time_left(limits: dict[str, str]) -> None:
    for _ in range(3):
        ratelimit.attempt({"login.account": "dave"})

    with pytest.raises(Throttled) as refused:
        ratelimit.attempt({"login.account": "dave"})

    assert refused.value.status == 429
    assert 1 <= refused.value.retry_after <= 60
    # Another identity has its own window.
    ratelimit.attempt({"login.account": "erin"})
    # In Redis, under this run's prefix, expiring with the window; the username is hashed.
    conn = get_redis_connection("default")
    keys = counter_keys()
    assert len(keys) == 2
    assert all(b"dave" not in key for key in keys)
    assert sorted(int(conn.get(key)) for key in keys) == [1, 3]
    assert all(0 < conn.pttl(key) <= 60_000 for key in keys)


def test_a_refused_attempt_counts_in_no_rule(limits: dict[str, str]) -> None:
    for _ in range(3):
        ratelimit.attempt({"login.account": "dave", "login.address": "192.0.2.1"})
    with pytest.raises(Throttled):
        ratelimit.attempt({"login.account": "dave", "login.address": "192.0.2.1"})

    # The address has used 3 of its 5: the refusal above did not count against it.
    ratelimit.attempt({"login.account": "erin", "login.address": "192.0.2.1"})
    ratelimit.attempt({"login.account": "fay", "login.address": "192.0.2.1"})
    with pytest.raises(Throttled):
        ratelimit.attempt({"login.account": "gus", "login.address": "192.0.2.1"})


def test_a_refund_gives_the_attempt_back(limits: dict[str, str]) -> None:
    for _ in range(10):
        ratelimit.attempt({"login.account": "dave"})
        ratelimit.refund({"login.account": "dave"})

    assert counter_keys() == []  # a counter back at zero is gone, never negative
    ratelimit.refund({"login.account": "dave"})
    assert counter_keys() == []


def test_parallel_attempts_cannot_slip_past_the_limit(limits: dict[str, str]) -> None:
    allowed: list[bool] = []
    start = threading.Barrier(20)

    def one() -> None:
        start.wait()
        try:
            ratelimit.attempt({"login.account": "dave"})
        except Throttled:
            allowed.append(False)
        else:
            allowed.append(True)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 3
    assert allowed.count(False) == 17


def test_without_redis_it_counts_in_this_process(limits: dict[str, str], no_redis: None) -> None:
    for _ in range(3):
        ratelimit.attempt({"login.account": "dave"})
    with pytest.raises(Throttled) as refused:
        ratelimit.attempt({"login.account": "dave"})

    assert refused.value.status == 429
    assert 1 <= refused.value.retry_after <= 60
    ratelimit.refund({"login.account": "dave"})
    ratelimit.attempt({"login.account": "dave"})
    assert counter_keys() == []  # nothing reached the real server


def test_the_memory_fallback_stays_bounded() -> None:
    counters = ratelimit.MemoryCounters(max_keys=100)
    rule = Rule(name="x", limit=1, window=60)
    for index in range(1_000):
        counters.attempt([(f"k{index}", rule)], now=0.0)
    assert len(counters._windows) <= 100


# --- the client's address -------------------------------------------------------------------


def test_the_address_is_remote_addr_and_a_forged_forwarded_for_is_ignored(settings: Any) -> None:
    settings.TRUSTED_PROXY_HOPS = 0
    request = RequestFactory().get(
        "/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.1"
    )
    assert client_address(request) == "198.51.100.7"


def test_behind_a_proxy_it_takes_the_address_the_proxy_saw(settings: Any) -> None:
    settings.TRUSTED_PROXY_HOPS = 1
    # The client forged the first entry; our proxy appended the real one.
    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.1"
    )
    assert client_address(request) == "203.0.113.1"
    settings.TRUSTED_PROXY_HOPS = 2
    assert client_address(request) == "10.9.9.9"


def test_ipv6_clients_are_counted_by_their_64() -> None:
    factory = RequestFactory()
    one = factory.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1")
    two = factory.get("/", REMOTE_ADDR="2001:db8:1:2:bbbb::9")
    assert client_address(one) == client_address(two) == "2001:db8:1:2::/64"
    assert client_address(factory.get("/", REMOTE_ADDR="::ffff:192.0.2.4")) == "192.0.2.4"
    assert client_address(factory.get("/", REMOTE_ADDR="not an address")) == "unknown"


# --- a refusal remembered in the process ------------------------------------------------------


def test_a_refusal_is_remembered_until_its_window_ends(limits: dict[str, str]) -> None:
    for _ in range(3):
        ratelimit.attempt({"login.account": "dave"})
    with pytest.raises(Throttled):
        ratelimit.attempt({"login.account": "dave"})
    get_redis_connection("default").delete(*counter_keys())

    # Redis has forgotten; this process still knows the window is used up.
    with pytest.raises(Throttled) as refused:
        ratelimit.attempt({"login.account": "dave"})

    assert 1 <= refused.value.retry_after <= 60
    assert 0 < ratelimit.refused_for("login.account", "dave") <= 60
    assert ratelimit.refused_for("login.account", "erin") == 0
    ratelimit.attempt({"login.account": "erin"})


def environ_of(path: str, *, method: str = "POST", address: str = "192.0.2.1") -> dict[str, Any]:
    factory = RequestFactory()
    request = factory.generic(method, path, b"{}", "application/json", REMOTE_ADDR=address)
    return dict(request.environ)


def test_a_refused_address_is_refused_before_django_runs(limits: dict[str, str]) -> None:
    from app.wsgi import application

    for index in range(5):
        ratelimit.attempt({"login.address": "192.0.2.1", "login.account": f"u{index}"})
    with pytest.raises(Throttled):
        ratelimit.attempt({"login.address": "192.0.2.1", "login.account": "u9"})
    answered: list[Any] = []

    body = b"".join(application(environ_of("/api/auth/login"), lambda *args: answered.append(args)))

    status, headers = answered[0][:2]
    assert status == "429 Too Many Requests"
    assert dict(headers)["Connection"] == "close"
    assert 1 <= int(dict(headers)["Retry-After"]) <= 60
    assert json.loads(body)["error"]["code"] == "too_many_attempts"
    # Anything else goes to Django: another address, another path, another method.
    for environ in (
        environ_of("/api/auth/login", address="192.0.2.2"),
        environ_of("/api/auth/signup"),
        environ_of("/api/auth/login", method="GET"),
    ):
        assert ratelimit.early_refusal(environ, normalize_username=str.lower) is None


def test_a_refused_account_is_refused_before_django_runs_and_others_pass(
    limits: dict[str, str],
) -> None:
    from app.wsgi import application

    for _ in range(3):
        ratelimit.attempt({"login.account": "dave"})
    with pytest.raises(Throttled):
        ratelimit.attempt({"login.account": "dave"})

    def login_environ(username: str) -> dict[str, Any]:
        body = json.dumps({"username": username, "password": "x"}).encode()
        request = RequestFactory().generic("POST", "/api/auth/login", body, "application/json")
        return dict(request.environ)

    answered: list[Any] = []
    body = b"".join(application(login_environ(" DAVE "), lambda *a: answered.append(a)))

    assert answered[0][0] == "429 Too Many Requests"  # normalised as the view does
    assert json.loads(body)["error"]["code"] == "too_many_attempts"
    # Another account goes on to Django, with the body it sent still there to read.
    environ = login_environ("erin")
    assert ratelimit.early_refusal(environ, normalize_username=str.lower) is None
    assert json.loads(environ["wsgi.input"].read())["username"] == "erin"


def test_a_login_with_no_password_slot_free_is_refused_before_django_runs(
    settings: Any,
) -> None:
    from app.wsgi import application

    settings.PASSWORD_HASH_SLOTS = 1
    settings.PASSWORD_HASH_QUEUE = 0
    answered: list[Any] = []
    with ratelimit.password_slot():
        body = b"".join(application(environ_of("/api/auth/login"), lambda *a: answered.append(a)))

    assert answered[0][0] == "503 Service Unavailable"
    assert dict(answered[0][1])["Retry-After"] == "1"
    assert json.loads(body)["error"]["code"] == "busy"
    assert ratelimit.early_refusal(environ_of("/api/auth/login"), normalize_username=str) is None
