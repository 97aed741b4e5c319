"""Several daphne processes on a real redis-server: one owner per room, failover, hand-over."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.players import Player, join
from tests.servers import LiveServer, RedisServer, free_port

pytestmark = [pytest.mark.live, pytest.mark.redis]

TICK_RATE = 20


@pytest.fixture
def cluster(
    redis_server: RedisServer, start_server: Callable[..., LiveServer]
) -> Callable[[int], list[LiveServer]]:
    def start(n: int, url: str | None = None) -> list[LiveServer]:
        return [
            start_server(REDIS_URL=url or redis_server.url, TICK_RATE=str(TICK_RATE),
                         SNAPSHOT_RATE=str(TICK_RATE), RECONNECT_GRACE_SECONDS="30")
            for _ in range(n)
        ]

    return start


def room_name() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


async def see_each_other(a: Player, b: Player) -> None:
    await a.until(lambda: a.state is not None and b.user_id in a.state["players"])
    await b.until(lambda: b.state is not None and a.user_id in b.state["players"])


async def test_players_on_two_processes_share_one_engine(
    cluster: Callable[..., list[LiveServer]],
) -> None:
    p1, p2 = cluster(2)
    room = room_name()
    a = await join(p1, room, "amy")
    b = await join(p2, room, "bob")
    await see_each_other(a, b)
    start = b.position(a.user_id)[0]
    for _ in range(20):
        await a.move(mx=1.0)
        await a.frame()
    await b.until(lambda: b.position(a.user_id)[0] > start)
    # One engine: both processes deliver the same snapshots, tick for tick.
    await b.until(lambda: bool(a.ticks) and b.ticks[-1] >= a.ticks[-1])
    b.ticks.clear()
    a.ticks.clear()
    for _ in range(10):
        await a.frame()
    await b.until(lambda: bool(b.ticks) and b.ticks[-1] >= a.ticks[-1])
    assert set(a.ticks) <= set(b.ticks), (a.ticks, b.ticks)
    await a.ws.close()
    await b.ws.close()


async def test_racing_processes_end_with_one_owner(
    cluster: Callable[..., list[LiveServer]],
) -> None:
    servers = cluster(3)
    room = room_name()
    players = await asyncio.gather(*(join(s, room, f"p{i}") for i, s in enumerate(servers)))
    # Had two engines started, some players would never see the others.
    for player in players:

        def sees_everyone(p: Player = player) -> bool:
            return p.state is not None and all(q.user_id in p.state["players"] for q in players)

        await player.until(sees_everyone)
    for player in players:
        await player.ws.close()


async def test_room_chat_crosses_processes(cluster: Callable[..., list[LiveServer]]) -> None:
    from engine import protocol

    p1, p2 = cluster(2)
    room = room_name()
    a = await join(p1, room, "amy")
    b = await join(p2, room, "bob")
    await see_each_other(a, b)
    await a.ws.send(protocol.encode({"t": "chat", "text": "hello from p1"}))
    deadline = time.monotonic() + 5
    while True:
        assert time.monotonic() < deadline, "chat did not cross processes"
        frame = await b.frame()
        if frame["t"] == "chat":
            assert frame["text"] == "hello from p1" and frame["from"]["id"] == a.user_id
            break
    await a.ws.close()
    await b.ws.close()


async def owner_and_other(servers: list[LiveServer], room: str) -> tuple[Player, Player]:
    """A joins first (its process owns the room), B on the other process."""
    a = await join(servers[0], room, "owner-side")
    await a.until(lambda: a.state is not None)
    b = await join(servers[1], room, "other-side")
    await see_each_other(a, b)
    for _ in range(2 * TICK_RATE):  # play a little: ticks pass, a checkpoint is written
        await a.move(mx=1.0)
        await a.frame()
        await b.frame()
    return a, b


async def test_kill_9_of_the_owner_resumes_the_room_elsewhere(
    cluster: Callable[..., list[LiveServer]],
) -> None:
    servers = cluster(2)
    room = room_name()
    a, b = await owner_and_other(servers, room)
    last_tick = b.ticks[-1]
    position = b.position(a.user_id)
    assert servers[0].process is not None
    servers[0].process.kill()
    killed_at = time.monotonic()
    # B's process takes the lease after it expires and resumes from the checkpoint.
    b.ticks.clear()
    resumed_at = None
    deadline = killed_at + 10
    while resumed_at is None:
        assert time.monotonic() < deadline, "the room did not resume"
        try:
            frame = await b.frame()
        except TimeoutError:
            continue
        if frame["t"] == "snap":
            resumed_at = time.monotonic()
    assert resumed_at - killed_at < 3.0, f"resumed after {resumed_at - killed_at:.2f}s"
    lost_ticks = last_tick - b.ticks[0]
    assert lost_ticks <= TICK_RATE * 1.0 + 2, f"{lost_ticks} ticks of game time lost"
    # A reconnects to the live process and resumes the same player.
    again = await join(servers[1], room, "", token=a.token)
    await again.until(lambda: again.state is not None)
    assert again.user_id == a.user_id and a.user_id in again.state["players"]  # type: ignore[index]
    resumed_position = again.position(a.user_id)
    assert abs(resumed_position[0] - position[0]) <= 8 * 250 * 1.0, "within 1 s of movement"
    await again.ws.close()
    await b.ws.close()


async def test_sigterm_hands_the_room_over_without_losing_ticks(
    cluster: Callable[..., list[LiveServer]],
) -> None:
    servers = cluster(2)
    room = room_name()
    a, b = await owner_and_other(servers, room)
    last_tick = b.ticks[-1]
    servers[0].signal(signal.SIGTERM)
    # A's socket on the draining process closes with 1012 (restart: reconnect elsewhere).
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await a.frame()
    assert closed.value.rcvd is not None, servers[0].log()[-3000:]
    assert closed.value.rcvd.code == 1012
    b.ticks.clear()
    while not b.ticks:
        await b.frame()
    assert b.ticks[0] >= last_tick, "the new owner continues from the hand-over state"
    assert b.ticks[0] - last_tick <= TICK_RATE * 2
    assert servers[0].process is not None
    assert servers[0].process.wait(15) is not None, "the process exits after hand-over"
    again = await join(servers[1], room, "", token=a.token)
    await again.until(lambda: again.state is not None and a.user_id in again.state["players"])
    await again.ws.close()
    await b.ws.close()


async def test_processes_recover_when_redis_restarts(
    start_server: Callable[..., LiveServer],
) -> None:
    # A private redis-server even when REDIS_URL names a shared one: this test restarts it.
    redis = RedisServer.restart_on(free_port())
    servers = [
        start_server(REDIS_URL=redis.url, TICK_RATE=str(TICK_RATE), SNAPSHOT_RATE=str(TICK_RATE))
        for _ in range(2)
    ]
    try:
        room = room_name()
        a, b = await owner_and_other(servers, room)
        redis.stop()
        restarted = RedisServer.restart_on(redis.port)
        try:
            # After Redis is back, moves on one process are seen on the other again.
            start = b.position(a.user_id)[0]
            deadline = time.monotonic() + 20
            while b.position(a.user_id)[0] <= start + 8 * 50:
                assert time.monotonic() < deadline, "cross-process play did not recover"
                await a.move(mx=1.0)
                try:
                    await asyncio.wait_for(b.frame(), 1)
                except TimeoutError:
                    pass
                try:
                    await asyncio.wait_for(a.frame(), 0.05)
                except TimeoutError:
                    pass
        finally:
            restarted.stop()
        await a.ws.close()
        await b.ws.close()
    finally:
        redis.stop()


async def test_idle_lobby_socket_gets_chat_from_another_process_after_10_s(
    cluster: Callable[..., list[LiveServer]],
) -> None:
    import json

    from websockets.asyncio.client import connect

    from tests.e2e.players import new_guest

    p1, p2 = cluster(2)
    _, token1 = new_guest(p1, "talker")
    _, token2 = new_guest(p2, "idler")
    async with connect(f"{p1.ws_url}/ws/lobby/?token={token1}") as talker, \
            connect(f"{p2.ws_url}/ws/lobby/?token={token2}") as idler:
        for ws in (talker, idler):  # hello, presence, rooms
            for _ in range(3):
                await asyncio.wait_for(ws.recv(), 5)
        # Nothing for the idle socket for longer than redis-py's default 5 s timeout.
        await asyncio.sleep(10.5)
        await talker.send(json.dumps({"type": "chat.send", "text": "still there?"}))
        deadline = time.monotonic() + 5
        while True:
            assert time.monotonic() < deadline, "chat did not reach the idle socket"
            frame = json.loads(await asyncio.wait_for(idler.recv(), 5))
            if frame["type"] == "chat.message":
                assert frame["text"] == "still there?" and frame["user"]["name"] == "talker"
                break


def publishes(redis: RedisServer) -> int:
    """How many PUBLISH commands the Redis server has run so far (INFO commandstats)."""
    import socket as sockets

    host, port = redis.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    with sockets.create_connection((host, int(port)), timeout=2) as conn:
        conn.sendall(b"INFO commandstats\r\n")
        data = b""
        while b"\r\n" not in data:
            data += conn.recv(65536)
        header, _, body = data.partition(b"\r\n")
        size = int(header[1:])  # a RESP bulk string: $<size>\r\n<body>\r\n
        while len(body) < size:
            body += conn.recv(65536)
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("cmdstat_publish:"):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


async def test_a_room_on_one_process_costs_no_redis_round_trip_per_tick(
    cluster: Callable[..., list[LiveServer]], redis_server: RedisServer,
) -> None:
    p1, p2 = cluster(2)
    room = room_name()
    a = await join(p1, room, "amy")
    b = await join(p1, room, "bob")  # sticky routing: both on the owner's process
    await see_each_other(a, b)
    before, ticks_before = publishes(redis_server), a.ticks[-1]
    for _ in range(2 * TICK_RATE):
        await a.move(mx=1.0)
        await a.frame()
    ticks = a.ticks[-1] - ticks_before
    local = publishes(redis_server) - before
    # Another process joins the room: now every snapshot crosses Redis once.
    c = await join(p2, room, "cy")
    await c.until(lambda: c.state is not None and a.user_id in c.state["players"])
    before, ticks_before = publishes(redis_server), a.ticks[-1]
    for _ in range(2 * TICK_RATE):
        await a.move(mx=1.0)
        await a.frame()
    shared_ticks = a.ticks[-1] - ticks_before
    shared = publishes(redis_server) - before
    assert ticks >= TICK_RATE and local < ticks / 4, (local, ticks)
    assert shared >= 0.9 * shared_ticks, (shared, shared_ticks)  # one per snapshot
    for player in (a, b, c):
        await player.ws.close()
