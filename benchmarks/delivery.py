"""perf-check's chat probe: every message reaches every member's socket exactly once.

A group of MEMBERS seeded users (never the persona whose inbox the HTTP probes read), one
socket each on the production server's /ws/. Each member sends MESSAGES / MEMBERS frames; the
probe then counts, per socket, the ``message.new`` frames that carry this run's client ids, and
the ``message.ack`` frames the senders get back. Delivery is a count, not a timing, so
perf-check judges its figures exactly, like the query counts:

- ``delivery:frames``: message.new frames received over all sockets (MESSAGES times MEMBERS);
- ``delivery:lost``: (socket, message) pairs never received (0);
- ``delivery:duplicated``: frames beyond the first of a message on a socket (0);
- ``delivery:acks``: message.ack frames the senders received (MESSAGES);
- ``delivery:errors``: error frames (0).

The group is found by its title in the first member's inbox, or opened through the API once,
so the perf database gains one room, and MESSAGES messages per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from benchmarks.drive import DriveError

MEMBERS = 4
# Ten a member: inside the per-user burst (CHAT_RATE_BURST, 20), so no send is rate limited.
MESSAGES = 40
ROOM_TITLE = "perf-check delivery"
# How long the probe waits for the last frames before it counts what is missing as lost.
SETTLE_SECONDS = 20.0
CONNECT_SECONDS = 10.0


@dataclass
class Ledger:
    """What each socket received, by client id."""

    sockets: int
    client_ids: list[str] = field(default_factory=list)
    received: Counter[tuple[int, str]] = field(default_factory=Counter)
    acks: int = 0
    errors: list[str] = field(default_factory=list)

    def complete(self) -> bool:
        mine = set(self.client_ids)
        seen = sum(1 for (_, cid) in self.received if cid in mine)
        return seen == len(mine) * self.sockets and self.acks >= len(mine)

    def figures(self) -> dict[str, float]:
        mine = set(self.client_ids)
        ours = {key: n for key, n in self.received.items() if key[1] in mine}
        expected = len(mine) * self.sockets
        return {
            "delivery:frames": sum(ours.values()),
            "delivery:lost": expected - len(ours),
            "delivery:duplicated": sum(n - 1 for n in ours.values()),
            "delivery:acks": self.acks,
            "delivery:errors": len(self.errors),
        }


def _api(base_url: str, method: str, path: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise DriveError(
            f"{method} {path} answered HTTP {exc.code}: {exc.read()[:200]!r}"
        ) from None
    except OSError as exc:
        raise DriveError(f"{method} {path} failed: {exc}") from None


def members_pick(*, persona: str, count: int = MEMBERS) -> list[str]:
    """The first ``count`` active users by id, the persona left out (read with this
    process's ORM, from the database the server uses)."""
    from app.accounts.models import User

    names = list(
        User.objects.filter(is_active=True)
        .exclude(username=persona)
        .order_by("id")
        .values_list("username", flat=True)[:count]
    )
    if len(names) < count:
        raise DriveError(f"the chat probe needs {count} users besides {persona}; seed first")
    return names


def room_of(*, base_url: str, tokens: list[str], usernames: list[str]) -> int:
    """The probe's group: found by title in the first member's inbox, else opened."""
    inbox = _api(base_url, "GET", "/api/chat/rooms", tokens[0])
    for room in inbox.get("items", []):
        if room.get("title") == ROOM_TITLE and room.get("kind") == "group":
            return int(room["id"])
    opened = _api(
        base_url,
        "POST",
        "/api/chat/rooms",
        tokens[0],
        {"users": usernames[1:], "title": ROOM_TITLE},
    )
    return int(opened["id"])


async def _listen(number: int, socket: ClientConnection, ledger: Ledger) -> None:
    with contextlib.suppress(WebSocketException, OSError):
        async for raw in socket:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message.new":
                ledger.received[number, str(frame.get("client_id"))] += 1
            elif kind == "message.ack":
                ledger.acks += 1
            elif kind == "error":
                ledger.errors.append(str(frame.get("code")))


async def _exchange(*, ws_url: str, origin: str, tokens: list[str], room: int) -> Ledger:
    ledger = Ledger(sockets=len(tokens))
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(
                connect(
                    ws_url,
                    origin=origin,  # type: ignore[arg-type]
                    additional_headers={"Cookie": f"sessionid={token}"},
                    open_timeout=CONNECT_SECONDS,
                )
            )
            for token in tokens
        ]
        listeners = [
            asyncio.create_task(_listen(number, socket, ledger))
            for number, socket in enumerate(sockets)
        ]
        for sent in range(MESSAGES):
            client_id = str(uuid.uuid4())
            ledger.client_ids.append(client_id)
            frame = {"type": "message.send", "room": room, "client_id": client_id}
            await sockets[sent % len(sockets)].send(json.dumps({**frame, "text": f"probe {sent}"}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        while not ledger.complete() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for task in listeners:
            task.cancel()
    return ledger


def measure(
    *, base_url: str, ws_url: str, tokens: list[str], usernames: list[str]
) -> dict[str, float]:
    """Open the members' sockets, send MESSAGES, and count what arrived where."""
    room = room_of(base_url=base_url, tokens=tokens, usernames=usernames)
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    try:
        ledger = asyncio.run(_exchange(ws_url=ws_url, origin=origin, tokens=tokens, room=room))
    except (WebSocketException, OSError, TimeoutError) as exc:
        raise DriveError(f"the chat probe could not hold its sockets on {ws_url}: {exc}") from None
    return ledger.figures()
