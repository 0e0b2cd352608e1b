"""Chat delivery bookkeeping: sent client_ids matched with received ones, per Locust process.

Pure Python (no Locust import) so it is unit-tested directly. A message counts as lost when
its send was acknowledged (persisted) but its ``message.new`` never reached the sender's own
socket; the last GRACE seconds are in flight, not lost. A duplicate is a second ``message.new``
with the same client_id on the same socket.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

GRACE_SECONDS = 3.0


@dataclass
class SentMessage:
    sender: str
    room: int
    sent_at: float
    acked_at: float | None = None
    echoed: bool = False


@dataclass
class ChatLedger:
    sent: dict[str, SentMessage] = field(default_factory=dict)
    # (receiving socket, client_id) -> how many message.new frames carried it.
    received: dict[tuple[str, str], int] = field(default_factory=dict)
    deliveries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    sockets_opened: int = 0
    sockets_failed: int = 0

    def on_send(self, *, client_id: str, sender: str, room: int, at: float | None = None) -> None:
        self.sent[client_id] = SentMessage(sender, room, time.time() if at is None else at)

    def on_ack(self, *, client_id: str, at: float | None = None) -> float | None:
        """The ack latency in ms, or None for an ack this process did not send."""
        message = self.sent.get(client_id)
        if message is None:
            return None
        message.acked_at = time.time() if at is None else at
        return (message.acked_at - message.sent_at) * 1000

    def on_new(self, *, receiver: str, client_id: str) -> bool:
        """Record a delivery; True the first time this socket sees this client_id."""
        key = (receiver, client_id)
        seen = self.received.get(key, 0)
        self.received[key] = seen + 1
        self.deliveries += 1
        message = self.sent.get(client_id)
        if message is not None and message.sender == receiver:
            message.echoed = True
        return seen == 0

    def on_error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def tally(self, *, now: float | None = None) -> dict[str, Any]:
        cutoff = (time.time() if now is None else now) - GRACE_SECONDS
        settled = [m for m in self.sent.values() if m.sent_at < cutoff]
        return {
            "sent": len(self.sent),
            "acked": sum(1 for m in self.sent.values() if m.acked_at is not None),
            "unacked": sum(1 for m in settled if m.acked_at is None),
            "lost": sum(1 for m in settled if m.acked_at is not None and not m.echoed),
            "in_flight": len(self.sent) - len(settled),
            "deliveries": self.deliveries,
            "duplicated": sum(count - 1 for count in self.received.values() if count > 1),
            "errors": dict(sorted(self.errors.items())),
            "sockets_opened": self.sockets_opened,
            "sockets_failed": self.sockets_failed,
        }


def tallies_merge(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-process tallies the runner collects."""
    total: dict[str, Any] = {}
    for tally in tallies:
        for key, value in tally.items():
            if isinstance(value, dict):
                bucket = total.setdefault(key, {})
                for name, count in value.items():
                    bucket[name] = bucket.get(name, 0) + count
            else:
                total[key] = total.get(key, 0) + value
    return total
