"""Realtime delivery to users: one way for any app to put a frame on every open socket of a
user, after the write behind it has committed.

Each signed-in browser holds one WebSocket (``app/chat/consumers.py``), joined to its user's
channel-layer group. A frame published here reaches all of that user's sockets as it is, so
an app declares its own frame types (``message.new``, ``notification.new``, ``feed.post``)
and publishes them; the socket relays them without knowing what they mean.

With the pub/sub layer, the frames are PUBLISHed directly from this thread, each to the
server its group hashes to (the layer may run on several: app/core/redisroles.py), in one
pipeline per server: with the layer on the cache's Redis, one round trip and no hop onto an
event loop. Any other layer gets ``group_send``. Callers with more to do in the same round
trip (chat releases its room lock there) add the frames to their own batch with
:func:`queue`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.utils import _consistent_hash
from django.conf import settings
from django.db import transaction

from app.core import degrade, redisroles

log = logging.getLogger(__name__)

# A delivery: the user, and the frame (a JSON object with a "type") their sockets receive.
Delivery = tuple[int, Mapping[str, Any]]

PUBSUB_LAYERS = frozenset(
    {"channels_redis.pubsub.RedisPubSubChannelLayer", "app.chat.layer.ResyncingPubSubChannelLayer"}
)


def user_group(user_id: int) -> str:
    """The channel-layer group every socket of one user joins."""
    return f"user.{user_id}"


def pubsub_shards() -> tuple[str, list[str]] | None:
    """The pub/sub layer's channel prefix and its servers' URLs, in the layer's order; None
    for any other layer, or hosts given other than as URLs."""
    layer: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    if layer.get("BACKEND") not in PUBSUB_LAYERS:
        return None
    config: dict[str, Any] = layer.get("CONFIG", {})
    servers = []
    for host in config.get("hosts") or []:
        address = host.get("address") if isinstance(host, dict) else host
        if not isinstance(address, str):
            return None
        servers.append(address)
    if not servers:
        return None
    return str(config.get("prefix", "asgi")), servers


def pubsub_prefix() -> str | None:
    """The pub/sub layer's channel prefix; None for any other layer."""
    shards = pubsub_shards()
    return shards[0] if shards else None


def shard_of(channel: str, servers: Sequence[str]) -> str:
    """The server the layer subscribes and publishes ``channel`` on (``_get_shard`` in
    channels_redis; a test pins the two together)."""
    return servers[_consistent_hash(channel, len(servers))]


def group_channel(prefix: str, group: str) -> str:
    """The Redis channel the pub/sub layer subscribes a group to (``_get_group_channel_name``
    in channels_redis; a test pins the two together)."""
    return f"{prefix}__group__{group}"


def queue(batch: redisroles.Batch, deliveries: Sequence[Delivery]) -> bool:
    """Add a PUBLISH per delivery to ``batch``, on the server of its group. False when the
    layer is not the pub/sub one: then call :func:`send`."""
    shards = pubsub_shards()
    if shards is None:
        return False
    prefix, servers = shards
    layer = get_channel_layer()
    assert layer is not None
    for user_id, payload in deliveries:
        event = {"type": "event.forward", "payload": payload}
        channel = group_channel(prefix, user_group(user_id))
        batch.pipe_at(shard_of(channel, servers)).publish(channel, layer.serialize(event))
    return True


def send(deliveries: Sequence[Delivery]) -> None:
    """Deliver now, through the channel layer's ``group_send``."""
    layer = get_channel_layer()
    assert layer is not None

    async def send_all() -> None:
        await asyncio.gather(
            *(
                layer.group_send(user_group(user_id), {"type": "event.forward", "payload": payload})
                for user_id, payload in deliveries
            )
        )

    if deliveries:
        async_to_sync(send_all)()


def publish(deliveries: Sequence[Delivery]) -> None:
    """Deliver each frame to its user's sockets now, in one round trip where it can."""
    if not deliveries:
        return
    batch = redisroles.Batch()
    if queue(batch, deliveries):
        batch.execute()
    else:
        send(deliveries)


def publish_on_commit(deliveries: Sequence[Delivery]) -> None:
    """Deliver once the surrounding transaction commits (at once outside one); never if it
    rolls back. Delivery is best effort: the write stands when Redis is down, and the
    reader's next page load shows it."""

    def deliver() -> None:
        try:
            publish(deliveries)
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
            log.warning("realtime: %d frames not delivered (%s)", len(deliveries), exc)

    transaction.on_commit(deliver)
