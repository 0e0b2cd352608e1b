"""What a Locust process of the chaos lab records: one line per request, and chat replies.

Pure Python (no Locust import), like loadtests/chatledger.py, so it is unit-tested directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from loadtests.chatledger import GRACE_SECONDS, ChatLedger

# An error message is kept this long: enough to tell a reset from a refused connection.
ERROR_CHARS = 120


def request_record(
    *,
    at: float,
    kind: str,
    name: str,
    ms: float,
    status: int | None,
    exception: BaseException | None,
) -> dict[str, Any]:
    """One request as the runner reads it back: ``t`` is the completion time (epoch seconds);
    ``error`` is None for a success, else the exception's class and message."""
    error = None
    if exception is not None:
        error = f"{type(exception).__name__}: {exception}"[:ERROR_CHARS]
    return {
        "t": round(at, 4),
        "endpoint": f"{kind} {name}",
        "ms": round(float(ms or 0.0), 2),
        "status": status or None,
        "error": error,
    }


def error_kind(record: dict[str, Any]) -> str | None:
    """None for a success; else ``HTTP <status>``, ``timeout``, ``connection error`` or
    ``error frame <code>``: what the client saw, in as few kinds as say what happened."""
    error = record.get("error")
    if error is None:
        return None
    status = record.get("status")
    if status and int(status) >= 100:
        return f"HTTP {int(status)}"
    text = str(error)
    if text.startswith("RuntimeError: error frame: "):
        return "error frame " + text.removeprefix("RuntimeError: error frame: ")
    lowered = text.lower()
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    return "connection error"


@dataclass
class ReplyLedger(ChatLedger):
    """ChatLedger plus, per send, whether an ``error`` frame answered it, and the ids of the
    acknowledged messages (where a reconnected client's ``sync`` must start)."""

    errored: set[str] = field(default_factory=set)
    message_ids: dict[str, int] = field(default_factory=dict)

    def on_send_failed(self, *, client_id: str) -> None:
        """The frame never left the client (its socket was already gone)."""
        self.sent.pop(client_id, None)

    def on_ack_id(self, *, client_id: str, message_id: int) -> None:
        if client_id in self.sent and message_id:
            self.message_ids[client_id] = message_id

    def on_error_reply(self, *, client_id: object) -> None:
        if isinstance(client_id, str) and client_id in self.sent:
            self.errored.add(client_id)

    def sync_since(self, *, sender: str, seen: int) -> int:
        """The id to sync from after a reconnect: before the oldest of this socket's own
        acknowledged messages whose echo has not arrived, else the last message seen."""
        pending = [
            self.message_ids[client_id] - 1
            for client_id, message in self.sent.items()
            if message.sender == sender
            and message.acked_at is not None
            and not message.echoed
            and client_id in self.message_ids
        ]
        return min([seen, *pending])

    def tally(self, *, now: float | None = None) -> dict[str, Any]:
        counts = super().tally(now=now)
        counts["errored"] = len(self.errored)
        counts["no_reply"] = len(self.replies(now=now)["no_reply_at"])
        return counts

    def replies(self, *, now: float | None = None) -> dict[str, Any]:
        """When each unanswered send and each lost message was sent (epoch seconds), so the
        runner can place them in a phase; sends of the last GRACE_SECONDS are in flight."""
        cutoff = (time.time() if now is None else now) - GRACE_SECONDS
        settled = [(client_id, m) for client_id, m in self.sent.items() if m.sent_at < cutoff]
        return {
            "sent_at": sorted(m.sent_at for _, m in settled),
            "no_reply_at": sorted(
                m.sent_at
                for client_id, m in settled
                if m.acked_at is None and client_id not in self.errored
            ),
            "lost_at": sorted(
                m.sent_at for _, m in settled if m.acked_at is not None and not m.echoed
            ),
            "errored": len(self.errored),
        }
