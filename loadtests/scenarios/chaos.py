"""chaos: the mixed load, with every request logged and every chat send held to a reply.

`make chaos` (loadtests/chaos/) runs this file. Three additions to `mixed`:

- Every request (HTTP and WebSocket rows) goes to ``<LAB_OUT>/requests.<pid>.jsonl`` with its
  completion time, latency, status and error, so the runner can split the run into the phases
  before, during and after the fault, second by second.
- The chat user holds each send to a reply: an ack or an ``error`` frame naming its
  ``client_id`` (loadtests/chaos/ledger.py). A send neither answered is counted.
- The chat user behaves like a real client after a dropped socket: it reconnects on its next
  task and asks for what it missed (a ``sync`` frame since the last message it had), so a
  message the server acknowledged and kept still reaches it; one it acknowledged and then
  lost does not.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import IO, Any

import websocket
from locust import events, task

from loadtests.chaos.ledger import ReplyLedger, request_record
from loadtests.lab import process_file
from loadtests.scenarios import chat as chat_scenario
from loadtests.scenarios.mixed import FeedReader, Poster, Searcher

__all__ = ["ChaosChatUser", "FeedReader", "Poster", "Searcher"]

# The chat module's own tally (chat.<pid>.json, merged into summary.json) and this file's
# replies come from one ledger.
ledger = ReplyLedger()
chat_scenario.ledger = ledger
_log: IO[str] | None = None


@events.request.add_listener
def on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    global _log
    if _log is None:
        path = process_file("requests")
        if path is None:
            return
        _log = path.with_suffix(".jsonl").open("a", buffering=1 << 16)
    status = getattr(response, "status_code", None)
    record = request_record(
        at=time.time(),
        kind=request_type,
        name=name,
        ms=response_time,
        status=status if isinstance(status, int) else None,
        exception=exception,
    )
    _log.write(json.dumps(record) + "\n")


@events.quitting.add_listener
def on_quitting(environment: Any, **_: Any) -> None:
    if _log is not None:
        _log.close()
    path = process_file("replies")
    if path is not None and ledger.sent:
        path.write_text(json.dumps(ledger.replies()))


class ChaosChatUser(chat_scenario.ChatUser):
    """ChatUser that reconnects after a drop, syncs what it missed, and records error frames
    per send."""

    weight = 3

    def on_start(self) -> None:
        self.dead: websocket.WebSocket | None = None
        super().on_start()

    def _receive_loop(self, ws: websocket.WebSocket) -> None:
        while True:
            try:
                raw = ws.recv()
            except (OSError, websocket.WebSocketException):
                break
            if not raw:
                break
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            kind = frame.get("type")
            if kind == "message.new":
                self._on_new(frame, len(raw))
            elif kind == "message.ack":
                client_id = str(frame.get("client_id", ""))
                ms = ledger.on_ack(client_id=client_id)
                ledger.on_ack_id(client_id=client_id, message_id=int(frame.get("id") or 0))
                if ms is not None:
                    self._fire_ms("message.ack", ms, len(raw))
            elif kind == "sync.done" and frame.get("more"):
                self._sync(ws, since=int(frame.get("last") or 0))
            elif kind == "error":
                code = str(frame.get("code"))
                ledger.on_error(code)
                ledger.on_error_reply(client_id=frame.get("client_id"))
                events.request.fire(
                    request_type="WS",
                    name="error frame",
                    response_time=0,
                    response_length=len(raw),
                    exception=RuntimeError(f"error frame: {code}"),
                    context={},
                )
        # The client knows this socket is gone: its next task reconnects instead of sending
        # into it (a send the server never received is not the server's missing reply).
        if self.ws is ws:
            self.dead = ws
            self.ws = None

    def _sync(self, ws: websocket.WebSocket, *, since: int) -> None:
        try:
            ws.send(json.dumps({"type": "sync", "since": max(0, since)}))
        except (OSError, websocket.WebSocketException):
            return

    def _reconnect(self) -> None:
        """A new socket, then everything since the oldest own message still unechoed."""
        if self.dead is not None:
            self.dead.close()
            self.dead = None
        self._connect()
        if self.ws is not None:
            seen = max(self.last_seen.values(), default=0)
            self._sync(self.ws, since=ledger.sync_since(sender=self.socket_key, seen=seen))

    @task(6)
    def send_message(self) -> None:
        if self.ws is None:
            self._reconnect()
        room = self._room()
        if self.ws is None or room is None:
            return
        client_id = str(uuid.uuid4())
        ledger.on_send(client_id=client_id, sender=self.socket_key, room=room)
        line = self.rng.choice(chat_scenario.LINES)
        text = f"{chat_scenario.STAMP}{time.time():.6f} {line}"
        frame = {"type": "message.send", "room": room, "client_id": client_id, "text": text}
        try:
            self.ws.send(json.dumps(frame))
        except (OSError, websocket.WebSocketException):
            # Never reached the server: not a send it owes a reply. The next task reconnects.
            ledger.on_send_failed(client_id=client_id)
            self.ws = None

    @task(2)
    def mark_read(self) -> None:
        try:
            super().mark_read()
        except (OSError, websocket.WebSocketException):
            self.ws = None


# Locust gives a subclass its base classes' tasks as well as its own: without this, ChatUser's
# send_message (which reconnects without a sync) would run as often as the override.
ChaosChatUser.tasks = [
    getattr(ChaosChatUser, getattr(t, "__name__", ""), t) for t in chat_scenario.ChatUser.tasks
]
