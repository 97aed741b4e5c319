"""The Redis channel layer for many processes: channels-redis' PubSub layer, bounded.

Chosen by measurement (docs/benchmarks.md): the core `RedisChannelLayer` dropped
11–19 % of group messages to full channels silently and was 4–6× slower;
the PubSub layer dropped none. But its per-channel queues are unbounded, so
a consumer that stops reading while subscribed grows memory forever. Here
each channel's queue holds at most `capacity` messages; past that the oldest
message is dropped, counted in `arena_layer_dropped_total` and logged, never
silently.

Configure with hosts entries carrying `socket_timeout: None` (redis-py 8's
default 5 s timeout equals the receive poll and raises on idle sockets,
channels_redis #422); `gameserver.settings` does that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts
from prometheus_client import Counter

logger = logging.getLogger(__name__)

DROPPED = Counter(
    "arena_layer_dropped_total", "Channel-layer messages dropped because a local queue was full"
)


class _BoundedShard(RedisSingleShardConnection):  # type: ignore[misc]
    def _receive_message(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        if name in layer.channels:
            targets = [name]
        else:
            targets = [c for c in layer.groups.get(name, ()) if c in layer.channels]
        for channel in targets:
            queue: asyncio.Queue[bytes] = layer.channels[channel]
            if queue.full():
                queue.get_nowait()
                DROPPED.inc()
                logger.warning("channel %s is full: dropped its oldest message", channel)
            queue.put_nowait(message["data"])


class _BoundedLoopLayer(RedisPubSubLoopLayer):  # type: ignore[misc]
    def __init__(
        self, *args: Any, capacity: int = 4096, hub_capacity: int = 65536, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        self.hub_capacity = hub_capacity
        self._shards = [_BoundedShard(host, self) for host in decode_hosts(kwargs.get("hosts"))]

    async def _subscribe_to_channel(self, channel: str) -> None:
        # A process's hub channels carry every room's or the whole lobby's traffic.
        deep = "hub." in channel
        self.channels[channel] = asyncio.Queue(maxsize=self.hub_capacity if deep else self.capacity)
        await self._get_shard(channel).subscribe(channel)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    """`RedisPubSubChannelLayer` whose local channel queues are bounded."""

    def _get_layer(self) -> _BoundedLoopLayer:
        loop = asyncio.get_running_loop()
        layer: _BoundedLoopLayer | None = self._layers.get(loop)
        if layer is None:
            layer = _BoundedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


def layer_settings(urls: list[str]) -> dict[str, Any]:
    """The CHANNEL_LAYERS entry for these Redis URLs (sharded when several)."""
    return {
        "BACKEND": "gameserver.redis_layer.BoundedPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": url, "socket_timeout": None} for url in urls],
            "prefix": "arena",
        },
    }
