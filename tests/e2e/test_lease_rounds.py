"""A process's lease round makes the same few Redis calls however many rooms it owns.

On a busy process every awaited Redis call waits for a turn of the event
loop; a round of one renewal and one checkpoint per room outlasted the
lease TTL with a few dozen rooms, and those rooms paused (issue #17's split
rooms). All renewals go in one call now, all checkpoints in another.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
import redis

from tests.e2e.players import join, read_forever
from tests.servers import LiveServer, RedisServer

pytestmark = [pytest.mark.live, pytest.mark.redis]

ROOMS = 12


async def test_a_lease_round_renews_and_checkpoints_every_room_in_one_call_each(
    redis_server: RedisServer, start_server: Callable[..., LiveServer],
) -> None:
    # A round every 0.1 s, each with the rooms' checkpoints.
    server = start_server(REDIS_URL=redis_server.url, LEASE_RENEW_SECONDS="0.1",
                          CHECKPOINT_SECONDS="0.1")
    store = redis.Redis.from_url(redis_server.url)
    run = uuid.uuid4().hex[:8]
    players = [await join(server, f"lease-{run}-{i}", f"p{i}") for i in range(ROOMS)]
    readers = [asyncio.ensure_future(read_forever(player)) for player in players]
    assert server.metric("arena_rooms") == ROOMS
    rounds_before = server.metric("arena_lease_round_seconds_count")
    scripts_before = redis_server.scripts_run()
    await asyncio.sleep(1.5)
    scripts = redis_server.scripts_run() - scripts_before
    rounds = server.metric("arena_lease_round_seconds_count") - rounds_before
    assert rounds >= 5, f"only {rounds} lease rounds in 1.5 s"
    # One renewal call and one checkpoint call per round (one round may be
    # half in the window at each end), and the orphan sweep's scan once per
    # lease TTL: with a call per room this was 24 per round.
    assert scripts <= 2 * (rounds + 2) + 2, (scripts, rounds)
    for room in range(ROOMS):
        assert store.hget(f"arena:ckpt:lease-{run}-{room}", "data"), "every room checkpointed"
    assert server.metric("arena_lease_lapses_total") == 0
    for reader in readers:
        reader.cancel()
    for player in players:
        await player.ws.close()
