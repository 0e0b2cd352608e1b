"""Chat: the inbox (naive vs optimized, 200 rooms), message persist + broadcast, and the two
Redis channel layers' group round trip, measured in one run.

Run with ``make bench-chat`` (see docs/experiments/chat.md) against your own database in
DATABASE_URL, REDIS_URL and REDIS_KEY_PREFIX. The fixture builds its data once (idempotent)
with bulk inserts; the last test writes benchmarks/results/chat-bench.json.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext

from app.accounts.models import User
from app.chat import services, strategies
from app.chat.models import Membership, Message, Room

ROOT = Path(__file__).resolve().parents[2]
ROOMS = 200
MESSAGES_PER_ROOM = 40
RESULTS: dict[str, Any] = {}


@pytest.fixture(scope="session")
def django_db_setup() -> None:
    """Use DATABASE_URL as is (your own lab database): no test_* database."""


def _world() -> User:
    """A user in 200 rooms (half DMs, half groups of 4), 40 messages each, mixed read state."""
    me = User.objects.filter(username="inboxbench").first()
    if me is not None:
        return me
    password = make_password("lab-password")
    me = User.objects.create(username="inboxbench", email="ib@example.com", password=password)
    others = User.objects.bulk_create(
        [
            User(username=f"inboxbench_{i}", email=f"ib{i}@example.com", password=password)
            for i in range(ROOMS * 3)
        ]
    )
    now = dt.datetime.now(dt.UTC)
    rooms = Room.objects.bulk_create(
        [
            Room(
                kind=Room.Kind.DM if i % 2 == 0 else Room.Kind.GROUP,
                dm_key=services.dm_key(me.pk, others[i].pk) if i % 2 == 0 else None,
                last_message_at=now,
            )
            for i in range(ROOMS)
        ]
    )
    memberships = []
    messages = []
    for i, room in enumerate(rooms):
        peers = [others[i]] if i % 2 == 0 else others[i : i + 3]
        memberships += [Membership(room=room, user_id=u.pk) for u in (me, *peers)]
        for j in range(MESSAGES_PER_ROOM):
            sender = me if j % 5 == 0 else peers[j % len(peers)]
            messages.append(
                Message(room=room, sender_id=sender.pk, text=f"m{j}", client_id=uuid.uuid4())
            )
    Membership.objects.bulk_create(memberships)
    Message.objects.bulk_create(messages, batch_size=2000)
    for i, room in enumerate(rooms):
        ids = list(Message.objects.filter(room=room).order_by("id").values_list("id", flat=True))
        Room.objects.filter(pk=room.pk).update(
            last_message_id=ids[-1], last_message_at=now - dt.timedelta(minutes=i)
        )
        # Every third room fully read, the others read up to a point: unread 0..39.
        mark = ids[-1] if i % 3 == 0 else ids[i % MESSAGES_PER_ROOM]
        Membership.objects.filter(room=room, user=me).update(last_read_message_id=mark)
    return me


@pytest.fixture(scope="module")
def me(django_db_blocker: Any) -> Iterator[User]:
    with django_db_blocker.unblock():
        yield _world()


@pytest.fixture
def db_access(django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        yield


def _queries(func: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        func()
    return len(captured.captured_queries)


def _median_ms(func: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 3)


@pytest.mark.parametrize("name", ["naive", "optimized"])
def test_inbox_200_rooms(benchmark: Any, me: User, db_access: None, name: str) -> None:
    inbox = strategies.STRATEGIES[name]
    entries = benchmark(lambda: inbox(user=me, cursor=None, limit=ROOMS))
    assert len(entries) == ROOMS


def test_message_send_persist_and_broadcast(benchmark: Any, me: User, db_access: None) -> None:
    settings.CHAT_RATE_PER_SECOND = 1e9
    room = Room.objects.filter(memberships__user=me, kind=Room.Kind.DM).order_by("id").first()
    assert room is not None
    benchmark(
        lambda: services.message_send(
            sender=me, room_id=room.pk, client_id=uuid.uuid4(), text="bench"
        )
    )


def _layers() -> dict[str, Any]:
    prefix = f"{settings.REDIS_KEY_PREFIX}:bench"
    host = {"address": settings.REDIS_URL}
    return {
        "RedisChannelLayer": RedisChannelLayer(
            hosts=[{**host, "socket_timeout": 15}], prefix=prefix
        ),
        "RedisPubSubChannelLayer": RedisPubSubChannelLayer(hosts=[host], prefix=prefix),
    }


def _group_round_trips(layer: Any, count: int) -> list[float]:
    """group_send to a one-socket user group and receive it, like one message.new."""
    frame = {"type": "event.forward", "payload": {"type": "message.new", "text": "x" * 60}}

    async def trips() -> list[float]:
        channel = await layer.new_channel()
        await layer.group_add("user.bench", channel)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            await layer.group_send("user.bench", frame)
            await layer.receive(channel)
            times.append(time.perf_counter() - start)
        await layer.group_discard("user.bench", channel)
        return times

    return asyncio.run(trips())


def test_summary_in_one_run(me: User, db_access: None) -> None:
    """Medians measured side by side, query counts, and the layers' round trips."""
    inbox: dict[str, Any] = {}
    for name, func in strategies.STRATEGIES.items():
        call = lambda func=func: func(user=me, cursor=None, limit=ROOMS)  # noqa: E731
        call()
        inbox[name] = {"queries": _queries(call), "median_ms": _median_ms(call, 15)}
    inbox["speedup"] = round(inbox["naive"]["median_ms"] / inbox["optimized"]["median_ms"], 1)
    layers = {}
    for name, layer in _layers().items():
        times = _group_round_trips(layer, 50)  # warm-up
        times = _group_round_trips(layer, 500)
        layers[name] = {
            "p50_ms": round(statistics.median(times) * 1000, 3),
            "p99_ms": round(sorted(times)[int(len(times) * 0.99)] * 1000, 3),
        }
    RESULTS.update(
        {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "rooms": ROOMS,
            "messages_per_room": MESSAGES_PER_ROOM,
            "inbox": inbox,
            "layer_group_round_trip": layers,
        }
    )
    out = ROOT / "benchmarks" / "results" / "chat-bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=2) + "\n")
    print(json.dumps(RESULTS, indent=2))
    assert inbox["optimized"]["queries"] <= 3
