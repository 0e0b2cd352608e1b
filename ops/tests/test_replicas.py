"""Read replicas against a real hot standby: read-your-writes with replay paused, other
clients on the replica, the replica stopped under load and started again.

The module makes a PostgreSQL primary and a streaming standby of its own (ops/replica.py),
migrates the app into the primary, and serves it with ``python -m ops.serve`` in production
mode, DATABASE_REPLICA_URLS naming the standby. It never touches the suite's own servers, so
it runs the same on the embedded and on the system PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ops import replica
from ops.replica import Pair
from ops.testing import Lab, eventually, running_lab

PASSWORD = "replica-pass-1234"


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    made = replica.pair_start()
    try:
        yield made
    finally:
        replica.pair_stop(made)


@pytest.fixture(scope="module")
def lab(pair: Pair) -> Iterator[Lab]:
    folder = Path(tempfile.mkdtemp(prefix="instalab-replicas-lab-"))
    try:
        with running_lab(
            folder,
            DATABASE_URL=pair.primary_url(),
            DATABASE_REPLICA_URLS=pair.standby_url(),
            JOB_WORKERS="0",
            DEBUG="0",
            SECRET_KEY="replica-test-" + "k" * 40,
            LAB_EXPERIMENTS="1",
            RATE_LIMIT_SIGNUP_ADDRESS="1000/h",
            CHAT_RATE_PER_SECOND="100000",
            CHAT_RATE_BURST="100000",
        ) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Client:
    """One browser-like client: its own cookies (the write position among them) and token."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.http = requests.Session()
        answer = self.http.post(
            f"{base}/api/auth/signup",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        self.http.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        self.username = username

    def get(self, path: str) -> tuple[Any, str]:
        answer = self.http.get(self.base + path, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json(), answer.headers.get("Server-Timing", "")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.http.post(self.base + path, json=body, timeout=30)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()


def on_replica(timing: str) -> bool:
    """Whether a replica answered some of the response's reads (``replica;desc="2 of 3 reads"``)."""
    found = re.search(r'replica;desc="(\d+) of \d+ reads', timing)
    assert found, f"no replica entry in Server-Timing: {timing}"
    return int(found.group(1)) > 0


@dataclass
class Room:
    id: int
    writer: Client
    reader: Client

    def send(self, text: str) -> int:
        sent = self.writer.post(
            f"/api/chat/rooms/{self.id}/messages", {"client_id": str(uuid.uuid4()), "text": text}
        )
        return int(sent["id"])

    def newest(self, client: Client) -> tuple[int, str]:
        page, timing = client.get(f"/api/chat/rooms/{self.id}/messages?limit=1")
        return int(page["items"][0]["id"]) if page["items"] else 0, timing


@pytest.fixture(scope="module")
def room(lab: Lab, pair: Pair) -> Room:
    suffix = uuid.uuid4().hex[:8]
    writer, reader = Client(lab.base, f"w{suffix}"), Client(lab.base, f"r{suffix}")
    # The writer's request reads the replica until it writes, and the reader's signup is
    # another client's write: the writer sees it once the standby has replayed it.
    replica.caught_up(pair.primary, pair.standby)
    opened = writer.post("/api/chat/rooms", {"users": [reader.username]})
    made = Room(int(opened["id"]), writer, reader)
    made.send("hello")
    # The reader wrote nothing, so it may read the replica: wait for it to hold the room.
    replica.caught_up(pair.primary, pair.standby)
    return made


def test_other_clients_read_from_the_replica(room: Room) -> None:
    # The reader never wrote: once the standby has replayed the room, its reads go there.
    eventually(lambda: on_replica(room.newest(room.reader)[1]), timeout=10, what="a replica read")
    newest, timing = room.newest(room.reader)
    assert newest > 0
    assert on_replica(timing)


def test_a_client_reads_its_own_writes_while_replay_is_paused(pair: Pair, room: Room) -> None:
    replica.replay_pause(pair.standby, paused=True)
    try:
        pairs = 200
        stale = others_stale = 0
        for number in range(pairs):
            sent = room.send(f"pair {number}")
            newest, timing = room.newest(room.writer)
            stale += newest != sent
            assert not on_replica(timing), "a client that just wrote read the frozen replica"
            if number % 20 == 0:
                # Someone who did not write reads the replica, which stopped in the past.
                seen, other_timing = room.newest(room.reader)
                others_stale += on_replica(other_timing) and seen < sent
        assert stale == 0
        assert others_stale > 0, "the paused replica never served the other client"
    finally:
        replica.replay_pause(pair.standby, paused=False)
    # Replay resumed: the writer's reads return to the replica once it has caught up.
    eventually(lambda: on_replica(room.newest(room.writer)[1]), timeout=10, what="writer back")


def test_a_replica_stopped_under_load_costs_no_error(pair: Pair, room: Room) -> None:
    failures: list[str] = []
    served = {"replica": 0, "primary": 0}
    running = threading.Event()
    running.set()

    def load() -> None:
        reader = room.reader
        while running.is_set():
            try:
                answer = reader.http.get(
                    f"{reader.base}/api/chat/rooms/{room.id}/messages?limit=1", timeout=30
                )
            except requests.RequestException as exc:
                failures.append(repr(exc))
                continue
            if answer.status_code != 200:
                failures.append(f"{answer.status_code} {answer.text[:200]}")
            timing = answer.headers.get("Server-Timing", "")
            served["replica" if on_replica(timing) else "primary"] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        replica.stop(pair.standby, mode="fast")
        time.sleep(3)
        after_stop = dict(served)
        time.sleep(1)
        assert served["replica"] == after_stop["replica"], "reads still went to a stopped replica"
        replica.start(pair.standby)
        eventually(
            lambda: served["replica"] > after_stop["replica"], timeout=15, what="replica back"
        )
    finally:
        running.clear()
        for thread in threads:
            thread.join()
        replica.start(pair.standby)
    assert failures == []
    assert served["primary"] > 0 and served["replica"] > 0
