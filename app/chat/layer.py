"""The pub/sub channel layer, telling its sockets when its Redis connection came back.

Redis pub/sub is at most once: while a process's subscription connection is down (Redis
restarted, a failover), whatever is published to its sockets' groups is gone, and those
sockets stay open without knowing. redis-py re-subscribes by itself on reconnect; this layer
then puts a ``layer.reconnected`` event in every local socket's queue, with the time the
connection was last known good, and the consumer resends what was written since
(app/chat/consumers.py). An acknowledged message thus reaches every open socket of its
members, outage or not.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
    _wrap_close,
)
from redis.asyncio.client import PubSub

EVENT = "layer.reconnected"


class _Shard(RedisSingleShardConnection):
    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self.good_at = time.time()

    def _ensure_redis(self) -> None:
        fresh = self._redis is None
        super()._ensure_redis()
        if fresh:
            # Registered by the pub/sub object on its connection when it first connects (as a
            # weak method: a bound method of this shard, which lives as long as the layer).
            self._pubsub.on_connect = self._on_connect

    async def _on_connect(self, connection: Any) -> None:
        # redis-py calls this on reconnects only: the pool hands the first connection over
        # already connected, before the callback is registered.
        await PubSub.on_connect(self._pubsub, connection)  # re-subscribes
        self._announce()
        self.good_at = time.time()

    def _receive_message(self, message: Any) -> None:
        if message is not None:
            self.good_at = time.time()
        super()._receive_message(message)

    def _announce(self) -> None:
        layer = self.channel_layer
        event = layer.channel_layer.serialize({"type": EVENT, "since": self.good_at})
        for queue in list(layer.channels.values()):
            queue.put_nowait(event)


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hosts = [shard.host for shard in getattr(self, "_shards")]  # noqa: B009 (untyped)
        self._shards = [_Shard(host, self) for host in hosts]


class ResyncingPubSubChannelLayer(RedisPubSubChannelLayer):
    """``channels_redis.pubsub.RedisPubSubChannelLayer`` whose shards announce reconnects."""

    def _get_layer(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            layer = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            # The parent's hook that closes this loop's connections with the loop.
            _wrap_close(self, loop)
        return self._layers[loop]
