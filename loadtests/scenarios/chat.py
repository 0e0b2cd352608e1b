"""chat: users hold one socket each, send in 1:1 and group rooms, mark read and share posts.

websocket-client is synchronous and gevent-patched under Locust; one receive greenlet per
socket reads frames and reports them with ``events.request.fire``. Sent client_ids are matched
with received ones in loadtests/chatledger.py to count lost and duplicated messages.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import gevent
import websocket
from locust import events, task

from loadtests.chatledger import ChatLedger
from loadtests.lab import WS_URL, LabUser, population, tally_register

ledger = ChatLedger()
LINES = ("hey!", "on my way", "ㅋㅋㅋ", "see you at 7", "좋아요", "sounds good 👍", "lol")
# A marker in the text carries the send time, so a receiver in another process can time it too.
STAMP = "lt@"


def _chat_tally() -> dict[str, Any] | None:
    # Each process's ledger is its own: a sender's echo comes back on its own socket, in the
    # same process, so the runner sums the tallies (loadtests/chatledger.tallies_merge).
    if ledger.sent or ledger.sockets_opened or ledger.sockets_failed:
        return ledger.tally()
    return None


tally_register("chat", _chat_tally)


class ChatUser(LabUser):
    """Holds a socket, sends into DMs and groups, reads, shares posts, checks the inbox."""

    weight = 2

    def on_start(self) -> None:
        super().on_start()
        # Several virtual users may log in as one person; each socket is its own receiver.
        self.socket_key = f"{self.username}#{uuid.uuid4().hex[:8]}"
        self.ws: websocket.WebSocket | None = None
        self.rooms: dict[str, list[int]] = {"dm": [], "group": []}
        self.last_seen: dict[int, int] = {}
        self._rooms_load()
        self._connect()

    def on_stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def _rooms_load(self) -> None:
        page = self.get("/api/chat/rooms", name="/api/chat/rooms")
        for room in (page or {}).get("items", []):
            self.rooms[room["kind"]].append(room["id"])
        # A user without rooms opens a DM (idempotent) and a group with other chat users.
        others = [name for name in population().usernames() if name != self.username]
        if not self.rooms["dm"] and others:
            opened = self.send(
                "POST",
                "/api/chat/rooms",
                name="/api/chat/rooms",
                json_body={"users": [self.rng.choice(others)]},
                ok=(200, 201),
            )
            if opened:
                self.rooms["dm"].append(opened["id"])
        if not self.rooms["group"] and len(others) >= 2:
            opened = self.send(
                "POST",
                "/api/chat/rooms",
                name="/api/chat/rooms",
                json_body={"users": self.rng.sample(others, 2), "title": "load test"},
                ok=(200, 201),
            )
            if opened:
                self.rooms["group"].append(opened["id"])

    def _connect(self) -> None:
        parts = urlsplit(str(self.host))
        origin = f"{parts.scheme}://{parts.netloc}"
        token = self.headers["Authorization"].removeprefix("Bearer ")
        started = time.perf_counter()
        try:
            self.ws = websocket.create_connection(
                WS_URL, cookie=f"sessionid={token}", origin=origin, timeout=30
            )
        except (OSError, websocket.WebSocketException) as exc:
            ledger.sockets_failed += 1
            self._fire("connect", started, exc)
            return
        ledger.sockets_opened += 1
        self._fire("connect", started, None)
        gevent.spawn(self._receive_loop, self.ws)

    def _fire(self, name: str, started: float, exc: Exception | None, length: int = 0) -> None:
        events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )

    def _fire_ms(self, name: str, ms: float, length: int) -> None:
        events.request.fire(
            request_type="WS",
            name=name,
            response_time=ms,
            response_length=length,
            exception=None,
            context={},
        )

    def _receive_loop(self, ws: websocket.WebSocket) -> None:
        while True:
            try:
                raw = ws.recv()
            except (OSError, websocket.WebSocketException):
                return
            if not raw:
                return
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message.new":
                self._on_new(frame, len(raw))
            elif kind == "message.ack":
                ms = ledger.on_ack(client_id=frame.get("client_id", ""))
                if ms is not None:
                    self._fire_ms("message.ack", ms, len(raw))
            elif kind == "error":
                ledger.on_error(str(frame.get("code")))
                events.request.fire(
                    request_type="WS",
                    name="error frame",
                    response_time=0,
                    response_length=len(raw),
                    exception=RuntimeError(f"error frame: {frame.get('code')}"),
                    context={},
                )

    def _on_new(self, frame: dict[str, Any], length: int) -> None:
        first = ledger.on_new(receiver=self.socket_key, client_id=str(frame.get("client_id")))
        self.last_seen[int(frame.get("room", 0))] = int(frame.get("id", 0))
        text = str(frame.get("text", ""))
        if first and text.startswith(STAMP):
            sent_at = float(text[len(STAMP) :].split(" ", 1)[0])
            self._fire_ms("message.new delivery", (time.time() - sent_at) * 1000, length)

    def _room(self) -> int | None:
        kind = "group" if self.rng.random() < 0.3 and self.rooms["group"] else "dm"
        rooms = self.rooms[kind] or self.rooms["dm"] or self.rooms["group"]
        return self.rng.choice(rooms) if rooms else None

    @task(6)
    def send_message(self) -> None:
        room = self._room()
        if self.ws is None or room is None:
            return
        client_id = str(uuid.uuid4())
        ledger.on_send(client_id=client_id, sender=self.socket_key, room=room)
        text = f"{STAMP}{time.time():.6f} {self.rng.choice(LINES)}"
        frame = {"type": "message.send", "room": room, "client_id": client_id, "text": text}
        try:
            self.ws.send(json.dumps(frame))
        except (OSError, websocket.WebSocketException):
            self.ws = None
            self._connect()

    @task(2)
    def mark_read(self) -> None:
        if self.ws is None or not self.last_seen:
            return
        room, message = self.rng.choice(list(self.last_seen.items()))
        if message:
            self.ws.send(json.dumps({"type": "read", "room": room, "message": message}))

    @task(1)
    def share_post(self) -> None:
        room = self._room()
        posts = population().posts
        if room is None or not posts:
            return
        # Any post id: a post the sender cannot see is refused with 404, which is fair.
        self.send(
            "POST",
            f"/api/posts/{self.rng.randint(1, posts)}/share",
            name="/api/posts/{id}/share",
            json_body={"rooms": [room], "client_id": str(uuid.uuid4())},
            ok=(201, 404),
        )

    @task(2)
    def inbox(self) -> None:
        self.get("/api/chat/rooms", name="/api/chat/rooms")

    @task(1)
    def history(self) -> None:
        room = self._room()
        if room is not None:
            self.get(f"/api/chat/rooms/{room}/messages", name="/api/chat/rooms/{id}/messages")
