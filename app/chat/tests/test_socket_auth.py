"""The /ws/ handshake over the real Redis channel layer: session auth and the origin check."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.test import Client

from app.chat.consumers import CLOSE_UNAUTHENTICATED, user_group
from app.testing.factories import UserFactory
from app.testing.sockets import ALLOWED_ORIGIN, communicator, session_cookie

# The consumer reads the session in a worker thread, so the user must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_it_runs_on_the_redis_channel_layer() -> None:
    # Every other test here would pass on an in-memory layer too; this one pins the real one.
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer)
    assert (
        settings.CHANNEL_LAYERS["default"]["BACKEND"]
        == "app.chat.layer.ResyncingPubSubChannelLayer"
    )


async def close_code_of(headers: list[tuple[bytes, bytes]]) -> Any:
    """The handshake completes, then the server closes: the only way a browser sees the code.

    A close before accept reaches a real client as a bare HTTP 403 without any code.
    """
    socket = communicator(headers)
    accepted, _ = await socket.connect(timeout=5)
    assert accepted, "the handshake must complete for the close code to reach the client"
    frame = await socket.receive_output(timeout=5)
    assert frame["type"] == "websocket.close", frame
    # What a server sends once the close handshake is done; the consumer then exits. The pause
    # first: channels_redis loses a cancellation that lands in the opening instant of the
    # layer's receive (its first EVAL), leaving the consumer in BZPOPMIN. A real client never
    # completes a close handshake that fast.
    await asyncio.sleep(0.05)
    await socket.disconnect(code=frame.get("code", 1000))
    assert socket.future.done() and not socket.future.cancelled(), "the consumer did not exit"
    return frame.get("code")


def test_it_closes_an_anonymous_socket_with_4401() -> None:
    code = asyncio.run(close_code_of([(b"origin", ALLOWED_ORIGIN)]))
    assert code == CLOSE_UNAUTHENTICATED == 4401


def test_it_closes_a_socket_with_an_unknown_session_with_4401() -> None:
    cookie = f"{settings.SESSION_COOKIE_NAME}=not-a-real-session-key".encode()
    code = asyncio.run(close_code_of([(b"origin", ALLOWED_ORIGIN), (b"cookie", cookie)]))
    assert code == 4401


def test_it_closes_a_socket_whose_session_was_logged_out_with_4401() -> None:
    alice = UserFactory(username="alice")
    client = Client()
    client.force_login(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    client.logout()
    code = asyncio.run(close_code_of([(b"origin", ALLOWED_ORIGIN), (b"cookie", cookie.encode())]))
    assert code == 4401


def test_it_accepts_a_session_and_delivers_the_users_group_events() -> None:
    alice = UserFactory(username="alice")
    cookie = session_cookie(alice)

    async def session() -> tuple[bool, dict[str, Any]]:
        socket = communicator([(b"origin", ALLOWED_ORIGIN), (b"cookie", cookie)])
        connected, _ = await socket.connect(timeout=5)
        try:
            await get_channel_layer().group_send(
                user_group(alice.pk),
                {"type": "event.forward", "payload": {"type": "message.new", "id": 7}},
            )
            frame = await socket.receive_json_from(timeout=5)
        finally:
            await asyncio.sleep(0.05)  # see close_code_of
            await socket.disconnect()
        return connected, frame

    connected, frame = asyncio.run(session())
    assert connected is True
    assert frame == {"type": "message.new", "id": 7}


def test_it_does_not_deliver_another_users_events() -> None:
    alice = UserFactory(username="alice")
    charlie = UserFactory(username="charlie")
    cookie = session_cookie(alice)

    async def session() -> bool:
        socket = communicator([(b"origin", ALLOWED_ORIGIN), (b"cookie", cookie)])
        connected, _ = await socket.connect(timeout=5)
        assert connected
        try:
            await get_channel_layer().group_send(
                user_group(charlie.pk),
                {"type": "event.forward", "payload": {"type": "message.new", "id": 8}},
            )
            return await socket.receive_nothing(timeout=0.5)
        finally:
            await asyncio.sleep(0.05)  # see close_code_of
            await socket.disconnect()

    assert asyncio.run(session()) is True


@pytest.mark.slow
def test_it_keeps_an_idle_socket_alive_past_the_layers_blocking_pop() -> None:
    alice = UserFactory(username="alice")
    cookie = session_cookie(alice)

    async def session() -> dict[str, Any]:
        socket = communicator([(b"origin", ALLOWED_ORIGIN), (b"cookie", cookie)])
        connected, _ = await socket.connect(timeout=5)
        assert connected
        try:
            # Longer than redis-py 8's 5 s default socket timeout: an idle subscription must
            # survive it (django/channels_redis#422 killed idle sockets this way).
            assert await socket.receive_nothing(timeout=6.5, interval=0.5)
            await get_channel_layer().group_send(
                user_group(alice.pk),
                {"type": "event.forward", "payload": {"type": "message.new", "id": 9}},
            )
            return await socket.receive_json_from(timeout=5)
        finally:
            await asyncio.sleep(0.05)  # see close_code_of
            await socket.disconnect()

    assert asyncio.run(session()) == {"type": "message.new", "id": 9}


@pytest.mark.parametrize(
    "origin",
    [b"http://evil.example", b"http://localhost.evil.example:8000", None],
    ids=["foreign", "lookalike", "missing"],
)
def test_it_rejects_a_bad_origin_even_with_a_valid_session(origin: bytes | None) -> None:
    alice = UserFactory(username="alice")
    headers = [(b"cookie", session_cookie(alice))]
    if origin is not None:
        headers.append((b"origin", origin))

    async def handshake() -> tuple[bool, Any]:
        socket = communicator(headers)
        result = await socket.connect(timeout=5)
        await asyncio.sleep(0.05)  # see close_code_of
        await socket.disconnect()
        return result

    connected, _ = asyncio.run(handshake())
    assert connected is False
