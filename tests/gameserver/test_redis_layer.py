"""The Redis channel layer against a real redis-server."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from gameserver import redis_layer
from gameserver.redis_layer import BoundedPubSubChannelLayer, layer_settings
from tests.servers import RedisServer

pytestmark = pytest.mark.redis


def make_layer(redis_server: RedisServer, **extra: Any) -> BoundedPubSubChannelLayer:
    config = layer_settings([redis_server.url])["CONFIG"]
    return BoundedPubSubChannelLayer(**config, **extra)


async def test_no_snapshot_is_dropped_at_60_hz_times_50_rooms(redis_server: RedisServer) -> None:
    sender, receiver = make_layer(redis_server), make_layer(redis_server)
    rooms, rate, seconds = 50, 60, 3
    channel = await receiver.new_channel("hub.")
    for room in range(rooms):
        await receiver.group_add(f"room.bench-{room}", channel)
    got: Counter[int] = Counter()
    order_ok = True
    last: dict[int, int] = {}
    expected = rooms * rate * seconds

    async def receive() -> None:
        nonlocal order_ok
        while sum(got.values()) < expected:
            message = await receiver.receive(channel)
            room, tick = message["room"], message["tick"]
            order_ok &= tick == last.get(room, -1) + 1
            last[room] = tick
            got[room] += 1

    reader = asyncio.ensure_future(receive())
    payload = bytes(range(256))
    loop = asyncio.get_running_loop()
    start = loop.time()
    for tick in range(rate * seconds):
        for room in range(rooms):
            await sender.group_send(f"room.bench-{room}",
                                    {"type": "room.snapshot", "room": room, "tick": tick,
                                     "delta": payload})
        await asyncio.sleep(max(0.0, start + (tick + 1) / rate - loop.time()))
    await asyncio.wait_for(reader, 15)
    assert sum(got.values()) == expected and all(got[r] == rate * seconds for r in range(rooms))
    assert order_ok, "each room's messages arrive in order"
    await sender.flush()
    await receiver.flush()


async def test_an_idle_receive_outlives_redis_py_socket_timeout(redis_server: RedisServer) -> None:
    # redis-py 8 times sockets out after 5 s by default (channels_redis #422):
    # a consumer idle for 10 s must still get the next message.
    sender, receiver = make_layer(redis_server), make_layer(redis_server)
    channel = await receiver.new_channel()
    await receiver.group_add("idle", channel)
    waiting = asyncio.ensure_future(receiver.receive(channel))
    done, _ = await asyncio.wait({waiting}, timeout=10.5)
    assert not done, "nothing was sent: the receive must still be waiting, not failed"
    await sender.group_send("idle", {"type": "wake"})
    assert (await asyncio.wait_for(waiting, 5))["type"] == "wake"
    await sender.flush()
    await receiver.flush()


async def test_a_consumer_that_stops_reading_costs_bounded_memory(
    redis_server: RedisServer,
) -> None:
    sender, receiver = make_layer(redis_server), make_layer(redis_server, capacity=50)
    channel = await receiver.new_channel()
    await receiver.group_add("dead", channel)
    before = redis_layer.DROPPED._value.get()
    for i in range(200):
        await sender.group_send("dead", {"type": "m", "i": i})
    # The newest 50 are kept, the 150 oldest dropped and counted.
    last: dict[str, Any] | None = None
    for _ in range(50):
        message: dict[str, Any] = await asyncio.wait_for(receiver.receive(channel), 5)
        last = message
        if message["i"] == 199:
            break
    assert last is not None and last["i"] == 199
    assert redis_layer.DROPPED._value.get() - before == 150
    await sender.flush()
    await receiver.flush()
