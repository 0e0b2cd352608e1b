"""A real Redis outage under an open chat socket: every send gets one ack or one ``error``, the
socket stays open, and sends work again once Redis is back.

Each test runs its own redis-server (app/testing/private_redis.py) and points the
app's caches, sessions and channel layer at it; the shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.accounts.models import User
from app.chat import limits, services
from app.chat.events import SERVER_FRAME
from app.chat.models import Message, Room
from app.core import degrade
from app.testing.client import login_client
from app.testing.factories import UserFactory
from app.testing.private_redis import PrivateRedis
from app.testing.sockets import SocketCommunicator, session_cookie, user_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_redis(settings: Any, tmp_path: Path) -> Iterator[PrivateRedis]:
    """Caches, sessions and the channel layer on a Redis of this test's own; the breaker
    (app/core/degrade.py) reset, with a short window so recovery takes milliseconds."""
    server = PrivateRedis(tmp_path)
    server.start()
    caches = {
        alias: {**config, "LOCATION": server.url} for alias, config in settings.CACHES.items()
    }
    settings.CACHES = caches
    layer = {**settings.CHANNEL_LAYERS["default"]}
    layer["CONFIG"] = {**layer["CONFIG"], "hosts": [{"address": server.url}]}
    settings.CHANNEL_LAYERS = {"default": layer}
    limits.local_reset()
    degrade.breaker.reset()
    window = degrade.breaker.open_for
    degrade.breaker.open_for = 0.05
    try:
        yield server
    finally:
        degrade.breaker.open_for = window
        degrade.breaker.reset()
        server.stop()
        limits.local_reset()


@pytest.fixture
def pair() -> tuple[User, User, Room]:
    alice: User = UserFactory.create(username="alice")
    bob: User = UserFactory.create(username="bob")
    room, _ = services.room_dm_get_or_create(user=alice, other=bob)
    return alice, bob, room


async def answer_to(socket: SocketCommunicator, client_id: str) -> dict[str, Any]:
    """The one ack or error naming ``client_id``, skipping relayed events; then checks that
    no second answer for it follows."""
    while True:
        frame = await socket.receive_json_from(timeout=10)
        SERVER_FRAME.validate_python(frame)
        if frame["type"] in ("message.ack", "error") and frame.get("client_id") == client_id:
            break
    while not await socket.receive_nothing(timeout=0.3):
        extra = await socket.receive_json_from(timeout=1)
        assert extra["type"] == "message.new", f"a second answer: {extra}"
    assert isinstance(frame, dict)
    return frame


def send(room: Room, client_id: str, text: str) -> dict[str, Any]:
    return {"type": "message.send", "room": room.pk, "client_id": client_id, "text": text}


def test_a_send_during_a_redis_outage_gets_an_error_and_the_socket_stays_open(
    own_redis: PrivateRedis, pair: tuple[User, User, Room]
) -> None:
    alice, _, room = pair
    cookie = session_cookie(alice)  # stored in the test's own Redis
    before, during, after = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario() -> list[dict[str, Any]]:
        socket = await user_socket(alice, cookie)
        answers = []
        await socket.send_json_to(send(room, before, "before"))
        answers.append(await answer_to(socket, before))
        await asyncio.to_thread(own_redis.stop)
        await socket.send_json_to(send(room, during, "during"))
        answers.append(await answer_to(socket, during))
        await socket.send_json_to({"type": "ping"})
        answers.append(await socket.receive_json_from(timeout=10))
        await asyncio.to_thread(own_redis.start)
        for _ in range(20):  # what a client does with retry_after
            await socket.send_json_to(send(room, after, "after"))
            answer = await answer_to(socket, after)
            if answer["type"] == "message.ack":
                break
            await asyncio.sleep(answer["retry_after"] / 10)
        answers.append(answer)
        await socket.disconnect()
        return answers

    acked, refused, pong, recovered = asyncio.run(scenario())
    assert acked["type"] == "message.ack"
    assert refused["type"] == "error"
    assert refused["code"] == "unavailable"
    assert (refused["client_id"], refused["room"]) == (during, room.pk)
    assert refused["retry_after"] == limits.UNAVAILABLE_RETRY_SECONDS
    assert pong == {"type": "pong"}, "the socket did not survive the outage"
    assert recovered["type"] == "message.ack", "sends did not recover with Redis"
    stored = set(Message.objects.filter(room=room).values_list("text", flat=True))
    assert stored == {"before", "after"}, "the refused send was half-written"


def test_a_send_stored_before_redis_fails_is_acknowledged_and_synced(
    own_redis: PrivateRedis, pair: tuple[User, User, Room], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, room = pair
    cookie = session_cookie(alice)
    client_id = str(uuid.uuid4())
    real_publish = services._message_publish

    def publish_into_an_outage(**kwargs: Any) -> None:
        own_redis.stop()  # Redis dies between the insert and the broadcast
        real_publish(**kwargs)

    monkeypatch.setattr(services, "_message_publish", publish_into_an_outage)

    async def scenario() -> dict[str, Any]:
        socket = await user_socket(alice, cookie)
        await socket.send_json_to(send(room, client_id, "stored"))
        answer = await answer_to(socket, client_id)
        await socket.disconnect()
        return answer

    answer = asyncio.run(scenario())
    assert answer["type"] == "message.ack", "a stored message must be acknowledged"
    message = Message.objects.get(client_id=client_id)
    assert answer["id"] == message.pk
    synced = [m.pk for m in services.selectors.message_sync(user=bob, since=0)]
    assert synced == [message.pk], "the member's sync does not bring the message"


def test_an_http_send_during_a_redis_outage_is_a_clean_503(
    own_redis: PrivateRedis, pair: tuple[User, User, Room]
) -> None:
    alice, _, room = pair
    client = login_client(alice)
    own_redis.stop()
    response = client.post_json(
        f"/api/chat/rooms/{room.pk}/messages", {"client_id": str(uuid.uuid4()), "text": "hi"}
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert not Message.objects.filter(room=room).exists()


def test_a_message_published_while_the_layer_resubscribes_still_reaches_the_open_socket(
    own_redis: PrivateRedis, pair: tuple[User, User, Room]
) -> None:
    """Redis comes back; bob's socket stayed open, but his process's subscription is not back
    yet (the layer retries a second later), so alice's message is published to nobody. Once
    the layer re-subscribes, it must still reach bob (app/chat/layer.py)."""
    alice, bob, room = pair
    cookie = session_cookie(bob)

    async def scenario() -> dict[str, Any]:
        socket = await user_socket(bob, cookie)
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(0.3)  # the layer's receive loop meets the dead connection
        await asyncio.to_thread(own_redis.start)
        degrade.breaker.reset()
        await asyncio.to_thread(
            services.message_send,
            sender=alice,
            room_id=room.pk,
            client_id=uuid.uuid4(),
            text="while you were away",
        )
        while True:
            frame = await socket.receive_json_from(timeout=10)
            if frame["type"] == "message.new":
                break
        await socket.disconnect()
        return frame

    frame = asyncio.run(scenario())
    assert frame["text"] == "while you were away"
    assert frame["room"] == room.pk
