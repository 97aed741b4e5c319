"""The embedded channel layer: Channels' layer contract, bounded, self-cleaning."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.exceptions import ChannelFull

from gameserver.layers import LocalChannelLayer


async def test_send_then_receive_in_order() -> None:
    layer = LocalChannelLayer()
    channel = await layer.new_channel()
    for i in range(3):
        await layer.send(channel, {"type": "m", "i": i})
    assert [(await layer.receive(channel))["i"] for _ in range(3)] == [0, 1, 2]


async def test_receive_waits_for_a_send() -> None:
    layer = LocalChannelLayer()
    channel = await layer.new_channel()
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)
    assert not waiting.done()
    await layer.send(channel, {"type": "m"})
    assert (await asyncio.wait_for(waiting, 1))["type"] == "m"


async def test_full_channel_raises_and_group_send_skips_it() -> None:
    layer = LocalChannelLayer(capacity=2)
    slow, fast = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", slow)
    await layer.group_add("g", fast)
    for _ in range(2):
        await layer.group_send("g", {"type": "m"})
    await layer.receive(fast)
    await layer.receive(fast)
    with pytest.raises(ChannelFull):
        await layer.send(slow, {"type": "m"})
    await layer.group_send("g", {"type": "m"})
    assert layer.dropped == 1, "the full member's copy is counted as dropped"
    assert (await layer.receive(fast))["type"] == "m", "others still get it"


async def test_group_discard_stops_delivery() -> None:
    layer = LocalChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_discard("g", channel)
    await layer.group_send("g", {"type": "m"})
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.05)


async def test_channels_nobody_reads_are_swept_with_their_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("gameserver.layers.time.monotonic", lambda: now[0])
    layer = LocalChannelLayer(expiry=60)
    dead, alive = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", dead)
    await layer.group_add("g", alive)
    reader = asyncio.ensure_future(layer.receive(alive))
    await asyncio.sleep(0)
    now[0] += 61
    await layer.group_send("g", {"type": "m"})  # triggers the sweep
    assert dead not in layer._channels and dead not in layer._groups.get("g", set())
    assert (await asyncio.wait_for(reader, 1))["type"] == "m"
    assert alive in layer._groups["g"], "a channel with a waiting reader is kept"


async def test_messages_are_not_copied_per_member() -> None:
    layer = LocalChannelLayer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", a)
    await layer.group_add("g", b)
    message: dict[str, Any] = {"type": "m", "data": b"x" * 100}
    await layer.group_send("g", message)
    assert (await layer.receive(a)) is (await layer.receive(b))


async def test_flush_empties_everything() -> None:
    layer = LocalChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.send(channel, {"type": "m"})
    await layer.flush()
    assert not layer._channels and not layer._groups


async def test_hub_channels_get_their_own_capacity() -> None:
    layer = LocalChannelLayer(capacity=2, channel_capacity={"*hub.*": 1000})
    hub, socket = await layer.new_channel("hub."), await layer.new_channel()
    for i in range(500):
        await layer.send(hub, {"type": "m", "i": i})
    with pytest.raises(ChannelFull):
        for _ in range(3):
            await layer.send(socket, {"type": "m"})
