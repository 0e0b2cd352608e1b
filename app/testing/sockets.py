"""WebSocket test helpers: a communicator for /ws/ on the real ASGI app, and session cookies."""

from __future__ import annotations

import json
from typing import Any

from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client

from app.accounts.models import User
from app.asgi import application

ALLOWED_ORIGIN = b"http://localhost:8000"


def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


class SocketCommunicator(ApplicationCommunicator):
    """channels.testing.WebsocketCommunicator's handshake and JSON frames, minus its import.

    channels 4.3's ``channels.testing`` package imports daphne (for its live-server test case)
    on import, and daphne would pull Twisted into the lock for nothing we use.
    """

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        scope = {"type": "websocket", "path": "/ws/", "query_string": b"", "headers": headers}
        super().__init__(application, scope)

    async def connect(self, timeout: float = 1) -> tuple[bool, Any]:
        """(True, subprotocol) when accepted, (False, close code) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept", response
        return True, response.get("subprotocol")

    async def send_json_to(self, data: Any) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def send_text_to(self, text: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text})

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        """Tell the consumer the client left, and stop it if it has not exited by ``timeout``.

        A consumer whose channel-layer receive is parked behind another consumer's blocking
        pop can take up to 10 s to exit on its own; the cancel after ``timeout`` is what a
        server does to a finished connection anyway.
        """
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def communicator(headers: list[tuple[bytes, bytes]]) -> SocketCommunicator:
    return SocketCommunicator(headers)


async def user_socket(user: User, cookie: bytes | None = None) -> SocketCommunicator:
    """A connected socket for ``user``; pass ``cookie`` (made in sync code) when in a loop."""
    socket = communicator([(b"origin", ALLOWED_ORIGIN), (b"cookie", cookie or b"")])
    connected, _ = await socket.connect(timeout=5)
    assert connected, f"{user} could not connect"
    return socket
