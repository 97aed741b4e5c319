"""Rooms split across two daphne processes on a real redis-server: the channel-layer
messages between them per tick are bounded by the processes, not by the players or
the rooms.

Players alternate between the processes (what a round-robin balancer without
sticky routing does). The non-owner sends its players' inputs to the owner as
`room.inputs` batches, one per short flush; the owner's engines tick together and
it sends one `room.snapshots` per snapshot tick with every room's snapshot, which
the other process fans out (acks included) to its own sockets. Counted with the
processes' own metrics (`arena_cluster_messages_sent_total`,
`arena_cluster_inputs_forwarded_total`).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gameserver.relay import INPUT_FLUSH_SECONDS
from tests.e2e.players import Player, join, poll
from tests.servers import LiveServer, RedisServer

pytestmark = [pytest.mark.live, pytest.mark.redis]

TICK_RATE = 20
ROOMS = 3
"""All owned by one process."""
PLAYERS = 8
"""Per room: four on each process."""
INPUTS_PER_SNAPSHOT = 2
"""Each player's inputs per snapshot it reads (40 per second: under the flood limit)."""
FLUSHES_PER_TICK = math.ceil(1 / TICK_RATE / INPUT_FLUSH_SECONDS)
"""The most `room.inputs` messages one process's outbox sends per tick (timers only run late)."""
WINDOW_TICKS = 40


def counts(server: LiveServer) -> dict[str, float]:
    """The process's counters this test reads, from one scrape of its /metrics."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "arena_cluster_messages_sent_total":
                found[sample.labels["type"]] = sample.value
            elif sample.name in ("arena_cluster_inputs_forwarded_total",
                                 "arena_tick_duration_seconds_count"):
                found[sample.name] = sample.value
    return found


async def both(owner: LiveServer, other: LiveServer) -> tuple[dict[str, float], ...]:
    return await asyncio.gather(asyncio.to_thread(counts, owner),
                                asyncio.to_thread(counts, other))


async def play(player: Player, stop: asyncio.Event, seconds: float = 30) -> None:
    """Read frames; after each snapshot, send INPUTS_PER_SNAPSHOT inputs (until `stop`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = await player.frame()
        if frame["t"] == "snap" and not stop.is_set():
            for _ in range(INPUTS_PER_SNAPSHOT):
                await player.move(mx=1.0)
        if stop.is_set() and acked(player):
            return


def has_state(player: Player) -> bool:
    return player.state is not None


def sees_everyone(player: Player) -> bool:
    return player.state is not None and len(player.state["players"]) == PLAYERS


def acked(player: Player) -> bool:
    return player.state is not None and player.state["acks"].get(player.user_id) == player.seq


async def test_split_rooms_cost_messages_per_process_not_per_player_or_room(
    redis_server: RedisServer, start_server: Callable[..., LiveServer],
) -> None:
    owner, other = (
        start_server(REDIS_URL=redis_server.url, TICK_RATE=str(TICK_RATE),
                     SNAPSHOT_RATE=str(TICK_RATE))
        for _ in range(2)
    )
    rooms = [f"b-{uuid.uuid4().hex[:10]}" for _ in range(ROOMS)]
    players: list[Player] = []
    for room in rooms:
        first = await join(owner, room, "p0")  # the first socket's process takes the room
        await first.until(functools.partial(has_state, first))
        players.append(first)
        for i in range(1, PLAYERS):
            players.append(await join((owner, other)[i % 2], room, f"p{i}"))
    remote = [p for i, p in enumerate(players) if i % PLAYERS % 2]
    for player in players:
        await player.until(functools.partial(sees_everyone, player))

    first = players[0]
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(play(p, stop)) for p in players]
    try:
        # Every player is sending. The play tasks read the sockets now: wait, never read.
        await poll(lambda: len(first.ticks) >= 5, 10, "snapshots while playing")
        owner_then, other_then = await both(owner, other)
        seq_then = sum(p.seq for p in remote)
        tick_then = first.ticks[-1]
        while first.ticks[-1] < tick_then + WINDOW_TICKS:
            await asyncio.sleep(0.05)
            assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
        owner_now, other_now = await both(owner, other)
        seq_now = sum(p.seq for p in remote)
        stop.set()
        # Every player's last input is applied and acked, on either process.
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
    finally:
        for task in tasks:
            task.cancel()

    def delta(now: dict[str, float], then: dict[str, float], key: str) -> float:
        return now.get(key, 0.0) - then.get(key, 0.0)

    # The owner runs only these rooms, at one snapshot per tick each.
    ticks = delta(owner_now, owner_then, "arena_tick_duration_seconds_count") / ROOMS
    batches = delta(owner_now, owner_then, "room.snapshots")
    inputs = delta(other_now, other_then, "room.inputs")
    forwarded = delta(other_now, other_then, "arena_cluster_inputs_forwarded_total")
    assert ticks >= WINDOW_TICKS / 2, ticks
    # Twelve remote players send about 24 inputs per tick between them; the messages
    # carrying them are bounded by the flushes per tick, and the inputs all arrive.
    assert inputs <= (ticks + 1) * FLUSHES_PER_TICK, (inputs, forwarded, ticks)
    assert forwarded >= 2 * inputs, ("inputs travel batched, not one message each",
                                     forwarded, inputs)
    assert seq_now - seq_then >= WINDOW_TICKS * len(remote), (seq_now - seq_then, ticks)
    assert forwarded >= WINDOW_TICKS * len(remote), (forwarded, ticks)
    # About one snapshot message per tick for the other process, all rooms and players
    # in it (one per room would be three times as many): a tick whose engines ran in
    # two loop turns (the process was busy) may send two.
    assert batches <= 1.25 * ticks + 2, (batches, ticks)
    assert not owner_now.get("room.snapshot"), "snapshots travel batched, not per room"
    assert not other_now.get("room.snapshots"), "only the owner sends snapshots"
    for player in players:
        assert acked(player), (player.user_id, player.seq, player.state and player.state["acks"])
        await player.ws.close()
