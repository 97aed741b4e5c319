"""Trusting the cluster: real daphne processes on a real redis-server.

- malformed messages another process (or anything else) puts on a process's
  channel are counted and dropped, and the room keeps ticking;
- a SIGSTOPped owner whose room was taken over never ticks it again after
  SIGCONT, and Redis refuses its stale checkpoint;
- after every process is killed, a fresh cluster lists no room or player the
  dead processes left behind.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import connect

from gameserver.ownership import RedisOwnership, checkpoint_key, fence_key, lease_key
from tests.e2e.players import Player, join, new_guest, poll, read_forever
from tests.servers import LiveServer, RedisServer, http_json

pytestmark = [pytest.mark.live, pytest.mark.redis]

TICK_RATE = 20
LEASE = {"LEASE_TTL_SECONDS": "1", "LEASE_RENEW_SECONDS": "0.3"}


@pytest.fixture
def cluster(
    redis_server: RedisServer, start_server: Callable[..., LiveServer]
) -> Callable[..., list[LiveServer]]:
    def start(n: int, **extra: str) -> list[LiveServer]:
        return [
            start_server(REDIS_URL=redis_server.url, TICK_RATE=str(TICK_RATE),
                         SNAPSHOT_RATE=str(TICK_RATE), **LEASE, **extra)
            for _ in range(n)
        ]

    return start


def room_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


# Malformed messages over Redis ---------------------------------------------------------------


async def test_malformed_messages_over_redis_are_dropped_and_the_room_keeps_ticking(
    cluster: Callable[..., list[LiveServer]], redis_server: RedisServer,
) -> None:
    from gameserver.redis_layer import BoundedPubSubChannelLayer, layer_settings

    (server,) = cluster(1)
    room = room_name()
    player = await join(server, room, "amy")
    await player.until(lambda: player.state is not None)
    owner = redis.Redis.from_url(redis_server.url).get(lease_key(room))
    assert isinstance(owner, bytes), "the process took the room's lease"
    channel = owner.decode()
    row = [10**6, 1.0, 0.0, 0.0, False, None]
    share = {"room": room, "users": [player.user_id], "rows": [row]}
    good = {"type": "room.inputs", "origin": "hub.x", "rooms": [share]}
    cases = [
        ("unknown_type", {"type": "room.explode", "room": room}),
        ("invalid", {**good, "rooms": [{**share, "users": ["1"]}]}),
        ("invalid", {**good, "rooms": [{**share, "rows": []}]}),
        ("invalid", {**good, "rooms": [{**share, "room": "no/such room"}]}),
        ("invalid", {**good, "rooms": [{**share, "rows": [[2**62, *row[1:]]]}]}),
        ("invalid", {"type": "room.frame", "room": room, "data": b"\0" * 100_000}),
    ]
    before = {r: server.metric("arena_cluster_messages_dropped_total", {"reason": r}, absent=0)
              for r in ("unknown_type", "invalid")}
    expected = dict(before)
    for reason, _ in cases:
        expected[reason] += 1
    layer = BoundedPubSubChannelLayer(**layer_settings([redis_server.url])["CONFIG"])
    try:
        for _, message in cases:
            await layer.send(channel, message)
    finally:
        await layer.flush()
    reader = asyncio.ensure_future(read_forever(player))
    try:
        await poll(lambda: all(
            server.metric("arena_cluster_messages_dropped_total", {"reason": r}, absent=0) >= n
            for r, n in expected.items()
        ), 10, "the drops to be counted")
        ticks_then = len(player.ticks)
        await poll(lambda: len(player.ticks) >= ticks_then + 10, 5, "ten more snapshots")
    finally:
        reader.cancel()
    assert {r: server.metric("arena_cluster_messages_dropped_total", {"reason": r}, absent=0)
            for r in expected} == expected
    assert player.ticks == sorted(set(player.ticks)), "the room kept ticking, in order"
    await player.ws.close()


# SIGSTOP of the owner ---------------------------------------------------------------------------


async def test_a_sigstopped_owner_never_ticks_the_room_again_after_sigcont(
    cluster: Callable[..., list[LiveServer]], redis_server: RedisServer,
) -> None:
    a_server, b_server = cluster(2, CHECKPOINT_SECONDS="0.2")
    store = redis.Redis.from_url(redis_server.url)
    room = room_name()
    a = await join(a_server, room, "on-a")  # A's process creates the room: it owns it
    await a.until(lambda: a.state is not None)
    b = await join(b_server, room, "on-b")
    await a.until(lambda: a.state is not None and b.user_id in a.state["players"])
    await b.until(lambda: b.state is not None and a.user_id in b.state["players"])
    owner_a = store.get(lease_key(room))
    token_a = int(store.get(fence_key(room)) or 0)
    assert owner_a is not None and token_a >= 1
    readers = [asyncio.ensure_future(read_forever(p)) for p in (a, b)]
    assert a_server.process is not None
    try:
        await poll(lambda: store.hget(checkpoint_key(room), "token") == str(token_a).encode(),
                   5, "A's checkpoint")
        a_server.signal(signal.SIGSTOP)
        try:
            last_a = max(a.ticks)
            await poll(lambda: store.get(lease_key(room)) not in (None, owner_a), 10,
                       "B to take the lease over")
            token_b = int(store.get(fence_key(room)) or 0)
            assert token_b > token_a, "every acquisition gets a newer fencing token"
            # B ticks the room (from A's last checkpoint) well past A's last tick.
            await poll(lambda: bool(b.ticks) and b.ticks[-1] > last_a + TICK_RATE, 10,
                       "B's engine to run ahead of A's last tick")
            await poll(lambda: store.hget(checkpoint_key(room), "token")
                       == str(token_b).encode(), 5, "B's checkpoint")
            b_tick_at_resume = b.ticks[-1]
            a_seen, b_seen = len(a.ticks), len(b.ticks)
        finally:
            a_server.signal(signal.SIGCONT)
        # A steps down on its first lease round and its player follows B's engine.
        await poll(lambda: "stepping down" in a_server.log(), 10, "A to step down")
        await poll(lambda: len(a.ticks) >= a_seen + 10 and len(b.ticks) >= b_seen + 10, 10,
                   "ten snapshots on both sides after A resumed")
    finally:
        for reader in readers:
            reader.cancel()
    after_a, after_b = a.ticks[a_seen:], b.ticks[b_seen:]
    # Nothing A's engine could produce (ticks just above last_a) reaches anyone after SIGCONT.
    assert min(after_a) > last_a + TICK_RATE // 2, (last_a, b_tick_at_resume, after_a)
    assert min(after_b) > last_a + TICK_RATE // 2, (last_a, after_b)
    # The ticks players see never go backwards once B runs the room.
    assert after_a == sorted(after_a) and after_b == sorted(after_b), (after_a, after_b)
    rewinds = [(x, y) for x, y in zip(b.ticks, b.ticks[1:], strict=False) if y < x]
    assert len(rewinds) <= 1, f"only B's take-over may rewind (to A's checkpoint): {rewinds}"
    # Redis holds B's checkpoint, and refuses one written with A's token.
    assert store.get(lease_key(room)) not in (None, owner_a)
    assert int(store.hget(checkpoint_key(room), "token") or 0) >= token_b
    stale = RedisOwnership(redis_server.url)
    assert await stale.save_checkpoint(room, token_a, b"stale state") is False
    assert await stale.load_checkpoint(room) != b"stale state"
    await stale.redis.aclose()
    assert a_server.metric("arena_rooms") == 0, "A runs no room after SIGCONT"
    await a.ws.close()
    await b.ws.close()


# Phantom rooms ------------------------------------------------------------------------------------


async def lobby_rooms_frame(server: LiveServer, token: str) -> list[dict[str, Any]]:
    """The `rooms` frame a new lobby socket gets on `server`."""
    async with connect(f"{server.ws_url}/ws/lobby/?token={token}") as ws:
        for _ in range(10):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if frame["type"] == "rooms":
                return list(frame["rooms"])
    raise AssertionError("no rooms frame")


def listed(server: LiveServer) -> dict[str, int]:
    status, body = http_json("GET", f"{server.url}/api/rooms")
    assert status == 200, body
    return {room["name"]: room["players"] for room in body["rooms"]}


async def test_after_the_whole_cluster_is_killed_no_phantom_room_is_listed(
    cluster: Callable[..., list[LiveServer]], redis_server: RedisServer, live_database: Path,
) -> None:
    first = cluster(2)
    rooms = [room_name() for _ in range(3)]
    players = [
        await join(first[0], rooms[0], "p0"),
        await join(first[1], rooms[1], "p1"),
        await join(first[0], rooms[2], "p2"),
        await join(first[1], rooms[2], "p3"),
    ]
    for player in players:

        def has_state(p: Player = player) -> bool:
            return p.state is not None

        await player.until(has_state)
    before = listed(first[0])
    assert [before.get(name) for name in rooms] == [1, 1, 2], before
    for server in first:
        assert server.process is not None
        server.process.kill()
        server.process.wait(10)
    killed_at = time.monotonic()
    fresh = cluster(2)
    # The dead processes' leases expire within the TTL: from then on no listing shows them.
    ttl = float(LEASE["LEASE_TTL_SECONDS"])
    await poll(lambda: not set(rooms) & set(listed(fresh[0])), max(0.0, killed_at + ttl + 1
                                                                    - time.monotonic()) + 0.5,
               "the dead rooms to leave GET /api/rooms")
    assert not set(rooms) & set(listed(fresh[1]))
    _, token = new_guest(fresh[1], "watcher")
    frame = await lobby_rooms_frame(fresh[1], token)
    assert not set(rooms) & {room["name"] for room in frame}, frame
    # The fresh processes, which served nothing but HTTP and lobby sockets, close
    # the dead rooms' rows and free the seats the dead processes' players held.

    def open_seats() -> int:
        with sqlite3.connect(live_database, timeout=20) as db:
            marks = ",".join("?" * len(rooms))
            (count,) = db.execute(
                f"SELECT COUNT(*) FROM lobby_seat s JOIN lobby_room r ON s.room_id = r.id "
                f"WHERE r.name IN ({marks})", rooms).fetchone()
            (still_open,) = db.execute(
                f"SELECT COUNT(*) FROM lobby_room WHERE closed_at IS NULL AND name IN ({marks})",
                rooms).fetchone()
        return int(count) + int(still_open)

    await poll(lambda: open_seats() == 0, 10, "the dead rooms' rows and seats to be closed")
    store = redis.Redis.from_url(redis_server.url)
    assert not any(store.sismember("arena:engines", name) for name in rooms)


async def test_players_of_a_killed_process_leave_a_room_owned_elsewhere(
    cluster: Callable[..., list[LiveServer]],
) -> None:
    owner, other = cluster(2, RECONNECT_GRACE_SECONDS="1")
    room = room_name()
    a = await join(owner, room, "stays")
    await a.until(lambda: a.state is not None)
    b = await join(other, room, "vanishes")
    await a.until(lambda: a.state is not None and b.user_id in a.state["players"])
    assert listed(owner)[room] == 2
    assert other.process is not None
    other.process.kill()
    other.process.wait(10)
    # The owner learns that the process is gone (its heartbeat expired), the
    # player's grace period runs out, the seat is freed: match and list agree.
    await a.until(lambda: a.state is not None and b.user_id not in a.state["players"], 15)
    assert a.user_id in a.state["players"]  # type: ignore[index]
    await poll(lambda: listed(owner).get(room) == 1, 5, "the list to show one player")
    await a.ws.close()
