"""The socket's limits on the real consumer, Redis and PostgreSQL: frames per socket, syncs per
user across sockets, sockets per user (close 4429), and the in-process fallback."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django_redis import get_redis_connection

from app.accounts.models import User
from app.chat import limits, services
from app.chat.consumers import CLOSE_TOO_MANY_SOCKETS
from app.chat.events import SERVER_FRAME
from app.chat.models import Room
from app.core import degrade
from app.testing.factories import UserFactory
from app.testing.sockets import (
    ALLOWED_ORIGIN,
    SocketCommunicator,
    communicator,
    session_cookie,
    user_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_fallback() -> Iterator[None]:
    limits.local_reset()
    yield
    limits.local_reset()


@pytest.fixture
def alice() -> User:
    user: User = UserFactory.create(username="alice")
    return user


async def reply(socket: SocketCommunicator) -> dict[str, Any]:
    frame = await socket.receive_json_from(timeout=5)
    SERVER_FRAME.validate_python(frame)
    assert isinstance(frame, dict)
    return frame


def test_it_meters_frames_per_socket_pings_included(alice: User, settings: Any) -> None:
    settings.CHAT_FRAME_BURST = 3
    settings.CHAT_FRAME_RATE = 5
    cookie = session_cookie(alice)

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        socket = await user_socket(alice, cookie)
        for _ in range(4):
            await socket.send_json_to({"type": "ping"})
        frames = [await reply(socket) for _ in range(4)]
        await asyncio.sleep(frames[-1]["retry_after"])
        await socket.send_json_to({"type": "ping"})
        after = await reply(socket)
        # Another socket of the same user has its own allowance.
        other = await user_socket(alice, cookie)
        await other.send_json_to({"type": "ping"})
        fresh = await reply(other)
        await socket.disconnect()
        await other.disconnect()
        return frames, after, fresh

    frames, after, fresh = asyncio.run(scenario())
    assert [f["type"] for f in frames] == ["pong", "pong", "pong", "error"]
    refused = frames[-1]
    assert refused["code"] == "rate_limited"
    assert 0 < refused["retry_after"] <= 0.21
    assert after == {"type": "pong"}, "the socket did not recover after retry_after"
    assert fresh == {"type": "pong"}


def test_a_metered_send_is_refused_naming_its_client_id(alice: User, settings: Any) -> None:
    settings.CHAT_FRAME_BURST = 1
    settings.CHAT_FRAME_RATE = 0.01
    bob: User = UserFactory.create(username="bob")
    room, _ = services.room_dm_get_or_create(user=alice, other=bob)
    client_id = str(uuid.uuid4())
    cookie = session_cookie(alice)

    async def scenario() -> dict[str, Any]:
        socket = await user_socket(alice, cookie)
        await socket.send_json_to({"type": "ping"})
        assert await reply(socket) == {"type": "pong"}
        frame = {"type": "message.send", "room": room.pk, "client_id": client_id, "text": "x"}
        await socket.send_json_to(frame)
        refused = await reply(socket)
        await socket.disconnect()
        return refused

    refused = asyncio.run(scenario())
    assert refused["code"] == "rate_limited"
    assert (refused["client_id"], refused["room"]) == (client_id, room.pk)
    assert refused["retry_after"] > 0
    assert not room.messages.exists()


def test_it_limits_syncs_per_user_across_sockets(alice: User, settings: Any) -> None:
    settings.CHAT_SYNC_BURST = 2
    settings.CHAT_SYNC_PER_MINUTE = 1
    cookie = session_cookie(alice)

    async def scenario() -> list[dict[str, Any]]:
        one = await user_socket(alice, cookie)
        two = await user_socket(alice, cookie)
        frames = []
        for socket in (one, one, two):
            await socket.send_json_to({"type": "sync", "since": 0})
            frames.append(await reply(socket))
        await one.disconnect()
        await two.disconnect()
        return frames

    frames = asyncio.run(scenario())
    assert [f["type"] for f in frames] == ["sync.done", "sync.done", "error"]
    assert frames[2]["code"] == "rate_limited"
    assert 59 < frames[2]["retry_after"] <= 60.01


async def _refused_socket(cookie: bytes) -> tuple[bool, dict[str, Any], Any]:
    """Connect one socket too many: (accepted, its error frame, its close code)."""
    socket = communicator([(b"origin", ALLOWED_ORIGIN), (b"cookie", cookie)])
    accepted, _ = await socket.connect(timeout=5)
    error = await reply(socket)
    close = await socket.receive_output(timeout=5)
    assert close["type"] == "websocket.close", close
    await asyncio.sleep(0.05)  # see test_socket_auth.close_code_of
    await socket.disconnect(code=close.get("code", 1000))
    return accepted, error, close.get("code")


def test_it_caps_sockets_per_user_and_frees_a_slot_on_close(alice: User, settings: Any) -> None:
    settings.CHAT_SOCKETS_PER_USER = 2
    cookie = session_cookie(alice)
    bob: User = UserFactory.create(username="bob")
    bob_cookie = session_cookie(bob)

    async def scenario() -> tuple[Any, ...]:
        one = await user_socket(alice, cookie)
        two = await user_socket(alice, cookie)
        refused = await _refused_socket(cookie)
        others = await user_socket(bob, bob_cookie)  # another user's cap is their own
        await one.disconnect()
        three = await user_socket(alice, cookie)  # the closed socket's slot is free again
        await three.send_json_to({"type": "ping"})
        pong = await reply(three)
        for socket in (two, three, others):
            await socket.disconnect()
        return refused, pong

    (accepted, error, code), pong = asyncio.run(scenario())
    assert accepted, "refuse after the handshake, or the client never sees the code"
    assert error["code"] == "too_many_sockets"
    assert code == CLOSE_TOO_MANY_SOCKETS == 4429
    assert pong == {"type": "pong"}
    key = limits._sockets_key(alice.pk)
    assert get_redis_connection("default").zcard(key) == 0, "closed sockets kept their leases"


def test_a_dead_processs_sockets_stop_counting_when_their_leases_expire(
    alice: User, settings: Any
) -> None:
    settings.CHAT_SOCKETS_PER_USER = 2
    key = limits._sockets_key(alice.pk)
    now = time.time()
    # Two sockets of a process that died without disconnecting: one lease has run out.
    get_redis_connection("default").zadd(key, {"dead-expired": now - 1, "dead-live": now + 60})
    assert limits.socket_admit(user_id=alice.pk, socket="new")
    assert not limits.socket_admit(user_id=alice.pk, socket="one-more")
    assert limits.socket_admit(user_id=alice.pk, socket="new"), "a socket holding a lease"
    members = get_redis_connection("default").zrange(key, 0, -1)
    assert sorted(members) == [b"dead-live", b"new"]


def test_an_open_socket_renews_its_lease(alice: User) -> None:
    assert limits.socket_admit(user_id=alice.pk, socket="s")
    key = limits._sockets_key(alice.pk)
    conn = get_redis_connection("default")
    conn.zadd(key, {"s": time.time() + 1})
    limits.socket_renew(user_id=alice.pk, socket="s")
    score = conn.zscore(key, "s")
    assert score is not None
    assert score > time.time() + limits.SOCKET_LEASE_SECONDS - 5


@pytest.fixture
def redis_unreachable(settings: Any, tmp_path: Any) -> Iterator[None]:
    """The cache's Redis at a unix socket nobody listens on; the breaker forgets the outage
    afterwards (it is per process, and the next test has Redis again)."""
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    caches["default"]["LOCATION"] = f"unix://{tmp_path}/nobody.sock"
    settings.CACHES = caches
    degrade.breaker.reset()
    yield
    degrade.breaker.reset()


def test_sync_limit_falls_back_to_this_process_without_redis(
    alice: User, settings: Any, redis_unreachable: None
) -> None:
    settings.CHAT_SYNC_BURST = 2
    settings.CHAT_SYNC_PER_MINUTE = 1
    limits.sync_admit(user_id=alice.pk)
    assert not degrade.redis_up(), "the Redis error did not trip the breaker"
    limits.sync_admit(user_id=alice.pk)
    with pytest.raises(limits.RateLimited) as refused:
        limits.sync_admit(user_id=alice.pk)
    assert refused.value.retry_after > 59
    limits.sync_admit(user_id=alice.pk + 1)  # per user


def test_socket_cap_falls_back_to_this_process_without_redis(
    alice: User, settings: Any, redis_unreachable: None
) -> None:
    settings.CHAT_SOCKETS_PER_USER = 2
    assert limits.socket_admit(user_id=alice.pk, socket="a")
    assert limits.socket_admit(user_id=alice.pk, socket="b")
    assert not limits.socket_admit(user_id=alice.pk, socket="c")
    limits.socket_release(user_id=alice.pk, socket="a")
    assert limits.socket_admit(user_id=alice.pk, socket="c")


def test_the_frame_bucket_refills_at_its_rate() -> None:
    bucket = limits.TokenBucket(rate=2, burst=2)
    assert bucket.take(100.0) == 0
    assert bucket.take(100.0) == 0
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.5) == 0
    assert bucket.take(100.5) == pytest.approx(0.5)


def test_a_send_refused_by_the_rate_limit_says_when_to_retry(alice: User, settings: Any) -> None:
    settings.CHAT_RATE_BURST = 1
    settings.CHAT_RATE_PER_SECOND = 0.5
    bob: User = UserFactory.create(username="bob")
    room: Room = services.room_dm_get_or_create(user=alice, other=bob)[0]
    services.message_send(sender=alice, room_id=room.pk, client_id=uuid.uuid4(), text="one")
    with pytest.raises(limits.RateLimited) as refused:
        services.message_send(sender=alice, room_id=room.pk, client_id=uuid.uuid4(), text="2")
    assert refused.value.status == 429
    assert 1.5 < refused.value.retry_after <= 2.01


def test_an_open_socket_keeps_renewing_its_lease(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "SOCKET_RENEW_SECONDS", 0.05)
    cookie = session_cookie(alice)
    conn = get_redis_connection("default")
    key = limits._sockets_key(alice.pk)

    async def scenario() -> tuple[float, float]:
        socket = await user_socket(alice, cookie)
        ((_, first),) = await asyncio.to_thread(conn.zrange, key, 0, -1, withscores=True)
        await asyncio.sleep(0.3)
        ((_, later),) = await asyncio.to_thread(conn.zrange, key, 0, -1, withscores=True)
        await socket.disconnect()
        return first, later

    first, later = asyncio.run(scenario())
    assert later > first + 0.1, "the lease was not renewed while the socket stayed open"
    assert conn.zcard(key) == 0
