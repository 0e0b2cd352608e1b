"""Redis by role over two real servers (app/core/redisroles.py): the channel layer sharded on
both, the cache on one and the limits on the other, with chat delivered to every socket."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels_redis.utils import _consistent_hash

from app.accounts.models import User
from app.chat import limits, services
from app.chat.models import Room
from app.core import degrade, realtime, redisroles
from app.testing.factories import UserFactory
from app.testing.private_redis import PrivateRedis
from app.testing.sockets import SocketCommunicator, session_cookie, user_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers(settings: Any, tmp_path: Path) -> Iterator[tuple[PrivateRedis, PrivateRedis]]:
    """Two embedded Redis servers: the cache (and sessions) on the first, rate limits and
    presence on the second, the channel layer on both (REDIS_CHANNELS_URLS of two)."""
    first, second = PrivateRedis(tmp_path / "a"), PrivateRedis(tmp_path / "b")
    for server in (first, second):
        server.directory.mkdir()
        server.start()
    caches = {alias: {**config, "LOCATION": first.url} for alias, config in settings.CACHES.items()}
    caches["limits"] = {**caches["default"], "LOCATION": second.url}
    settings.CACHES = caches
    layer = {**settings.CHANNEL_LAYERS["default"]}
    hosts = [{"address": first.url}, {"address": second.url}]
    layer["CONFIG"] = {**layer["CONFIG"], "hosts": hosts}
    settings.CHANNEL_LAYERS = {"default": layer}
    limits.local_reset()
    degrade.breaker.reset()
    try:
        yield first, second
    finally:
        degrade.breaker.reset()
        limits.local_reset()
        for server in (first, second):
            server.stop()


def user_channel(user: User) -> str:
    prefix = realtime.pubsub_prefix()
    assert prefix is not None
    return realtime.group_channel(prefix, realtime.user_group(user.pk))


def members_on_both(servers: list[str]) -> list[User]:
    """Users until at least two of them have their group on each server."""
    users: list[User] = []
    while min(sum(1 for u in users if shard(u, servers) == s) for s in servers) < 2:
        assert len(users) < 30, "30 users' groups all hashed to one server"
        users.append(UserFactory.create(username=f"u{len(users)}"))
    return users


def shard(user: User, servers: list[str]) -> str:
    """Where channels_redis keeps the user's group (its own hash, not realtime's copy)."""
    return servers[_consistent_hash(user_channel(user), len(servers))]


def publishes(server: PrivateRedis) -> int:
    stats: dict[str, Any] = server.client().info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


def test_the_sharded_layer_and_realtime_pick_the_same_server(two_servers):
    first, second = two_servers
    servers = [first.url, second.url]

    async def layer_shard(channel: str) -> str:
        layer = get_channel_layer()
        assert layer is not None
        return str(layer._get_layer()._get_shard(channel).host["address"])

    channels = [realtime.group_channel("p", realtime.user_group(pk)) for pk in range(40)]
    picked = [realtime.shard_of(channel, servers) for channel in channels]
    assert set(picked) == set(servers), "40 groups all hashed to one server"
    assert picked == [asyncio.run(layer_shard(channel)) for channel in channels]


def test_a_group_message_reaches_members_on_both_servers(two_servers):
    first, second = two_servers
    servers = [first.url, second.url]
    users = members_on_both(servers)
    sender, others = users[0], users[1:]
    room: Room = services.room_group_create(creator=sender, others=others, title="sharded")
    cookies = {user.pk: session_cookie(user) for user in users}
    before = {server.url: publishes(server) for server in two_servers}

    async def scenario() -> tuple[dict[int, list[str]], dict[str, dict[str, int]]]:
        sockets: dict[int, SocketCommunicator] = {
            user.pk: await user_socket(user, cookies[user.pk]) for user in users
        }
        subscribed = {
            server.url: {
                name.decode(): int(count)
                for name, count in server.client().pubsub_numsub(*map(user_channel, users))
            }
            for server in two_servers
        }
        for i in range(3):
            frame = {"type": "message.send", "room": room.pk, "text": f"m{i}"}
            await sockets[sender.pk].send_json_to({**frame, "client_id": str(uuid.uuid4())})
        texts: dict[int, list[str]] = {}
        for user in users:
            texts[user.pk] = []
            while len(texts[user.pk]) < 3:
                frame = await sockets[user.pk].receive_json_from(timeout=5)
                if frame["type"] == "message.new":
                    texts[user.pk].append(frame["text"])
        for socket in sockets.values():
            await socket.disconnect()
        return texts, subscribed

    texts, subscribed = asyncio.run(scenario())
    assert all(got == ["m0", "m1", "m2"] for got in texts.values()), texts
    for server in two_servers:
        on_it = {user_channel(u) for u in users if shard(u, servers) == server.url}
        # Each socket's group is subscribed on the server it hashes to, and only there.
        assert {name for name, n in subscribed[server.url].items() if n} == on_it
        # Every message was PUBLISHed (at least) once per member whose group lives here.
        assert publishes(server) - before[server.url] >= 3 * len(on_it)
    # The cache's keys (sessions, inbox generations) on the first, the limits on the second.
    rate_key = services._key("rate", sender.pk)
    assert second.client().exists(rate_key) and not first.client().exists(rate_key)
    assert first.client().keys("*inbox-gen*") and not second.client().keys("*inbox-gen*")


def test_a_batch_writes_each_role_on_its_own_server(two_servers):
    first, second = two_servers
    assert redisroles.servers()[:2] == [first.url, second.url]
    batch = redisroles.Batch()
    batch.pipe("cache").set("roles:cache", 1)
    start = len(batch.pipe("limits"))
    batch.pipe("limits").set("roles:limits", 1)
    batch.pipe("limits").get("roles:limits")
    batch.execute()
    assert batch.replies("limits", start) == [True, b"1"]
    assert first.client().get("roles:cache") == b"1" and not first.client().get("roles:limits")
    assert second.client().get("roles:limits") == b"1" and not second.client().get("roles:cache")


def test_readyz_is_degraded_while_the_limits_server_is_down(two_servers, client):
    second = two_servers[1]
    assert client.get("/readyz").json()["status"] == "ok"
    second.stop()
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "degraded"
    assert answer.json()["components"]["redis"]["status"] != "ok"
