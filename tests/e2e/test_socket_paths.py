"""The game socket's contract on both socket paths of a live daphne server.

`SOCKET_FAST_PATH=auto` runs game sockets on the daphne adapter
(gameserver/net/daphne.py) under the pinned versions; `off` runs them on
plain ASGI, as any other ASGI server would. Every contract test runs against
both, with a real `websockets` client over loopback TCP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from engine import protocol
from tests.e2e.players import new_guest
from tests.servers import LiveServer, migrate, server_env

pytestmark = pytest.mark.live

FALLBACK_WARNING = "socket fast path unavailable"


@pytest.fixture(scope="module", params=["auto", "off"])
def path_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One daphne process per socket path, shared by this module's tests."""
    db = tmp_path_factory.mktemp(f"paths-{request.param}") / "arena.sqlite3"
    env = server_env(db, {"SOCKET_FAST_PATH": request.param})
    migrate(env)
    server = LiveServer(env=env).start()
    yield server
    server.stop()


async def until_metric(server: LiveServer, value: float, name: str, **labels: str) -> None:
    deadline = time.monotonic() + 10
    while (got := await asyncio.to_thread(server.metric, name, labels)) != value:
        assert time.monotonic() < deadline, f"{name}{labels} stayed {got}, expected {value}"
        await asyncio.sleep(0.05)


def path_of(server: LiveServer) -> str:
    return server.env["SOCKET_FAST_PATH"]


async def open_game(server: LiveServer, room: str, name: str) -> tuple[ClientConnection, int]:
    user_id, token = new_guest(server, name)
    ws = await connect(f"{server.ws_url}/ws/game/{room}/?token={token}")
    return ws, user_id


async def in_room(server: LiveServer, room: str, name: str) -> tuple[ClientConnection, int]:
    """A game socket past its welcome and first snapshot.

    The server decides the socket's read path when the player has entered
    the room, before the hub's first snapshot: frames sent from here on are
    read by that path (before, autobahn reads them and the adapter takes
    over its queue).
    """
    ws, user_id = await open_game(server, room, name)
    assert (await next_frame(ws))["t"] == "welcome"
    assert (await next_frame(ws))["t"] == "snap"
    return ws, user_id


async def next_frame(ws: ClientConnection) -> dict[str, Any]:
    data = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(data, bytes)
    frame = protocol.decode(data)
    assert frame["t"] != "error", frame
    return frame


def game_input(seq: int) -> bytes:
    return protocol.encode(
        {"t": "input", "seq": seq, "mx": 0.5, "my": 0.0, "aim": 0.0, "fire": False})


async def until_acked(ws: ClientConnection, user_id: int, seq: int) -> list[int]:
    """Read snapshots until `seq` is acked; the acks seen, in order."""
    acks: list[int] = []
    async with asyncio.timeout(10):
        while not acks or acks[-1] < seq:
            frame = await next_frame(ws)
            if frame["t"] == "snap" and user_id in frame["acks"]:
                acks.append(frame["acks"][user_id])
    return acks


async def test_welcome_then_a_full_snapshot(path_server: LiveServer) -> None:
    ws, user_id = await open_game(path_server, "p-welcome", "wes")
    async with ws:
        welcome = await next_frame(ws)
        assert welcome["t"] == "welcome" and welcome["player_id"] == user_id
        snap = await next_frame(ws)
        assert snap["t"] == "snap" and snap["full"] is True


async def test_inputs_sent_at_once_are_acked_in_order(path_server: LiveServer) -> None:
    ws, user_id = await open_game(path_server, "p-order", "ora")
    async with ws:
        for seq in range(1, 31):  # racing the server's join work
            await ws.send(game_input(seq))
        acks = await until_acked(ws, user_id, 30)
        for seq in range(31, 61):  # the socket's own read path
            await ws.send(game_input(seq))
        acks += await until_acked(ws, user_id, 60)
        assert acks == sorted(acks) and acks[-1] == 60


async def test_app_level_ping_gets_its_pong(path_server: LiveServer) -> None:
    ws, _ = await in_room(path_server, "p-ping", "pip")
    async with ws:
        await ws.send(protocol.ping(77))
        async with asyncio.timeout(10):
            while (frame := await next_frame(ws))["t"] != "pong":
                pass
        assert frame["id"] == 77


async def test_a_fragmented_message_is_one_input(path_server: LiveServer) -> None:
    ws, user_id = await in_room(path_server, "p-frag", "fra")
    async with ws:
        data = game_input(1)
        # websockets sends an iterable as one message in several frames.
        await ws.send([data[:3], data[3:10], data[10:]])
        assert (await until_acked(ws, user_id, 1))[-1] == 1


async def test_a_websocket_ping_is_answered(path_server: LiveServer) -> None:
    ws, _ = await in_room(path_server, "p-wsping", "wsp")
    async with ws:
        pong = await ws.ping(b"still there?")
        latency = await asyncio.wait_for(pong, 5)
        assert latency >= 0


async def test_an_oversized_message_closes_1009(path_server: LiveServer) -> None:
    ws, _ = await in_room(path_server, "p-big", "big")
    await ws.send(protocol.encode({"t": "chat", "text": "x" * 10_000}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_the_clients_close_reaches_the_consumer(path_server: LiveServer) -> None:
    await until_metric(path_server, 0, "arena_connected", role="player")
    ws, _ = await in_room(path_server, "p-close", "clo")
    await until_metric(path_server, 1, "arena_connected", role="player")
    await ws.close(1000, "bye")
    assert ws.close_code == 1000  # the server completed the closing handshake
    await until_metric(path_server, 0, "arena_connected", role="player")


async def test_game_sockets_take_the_expected_path(path_server: LiveServer) -> None:
    path = path_of(path_server)
    counted = "fast" if path == "auto" else "fallback"
    other = "fallback" if path == "auto" else "fast"
    before = path_server.metric("arena_socket_path_total", {"path": counted})
    before_other = path_server.metric("arena_socket_path_total", {"path": other})
    sockets = [await in_room(path_server, "p-path", f"pa{i}") for i in range(2)]
    assert path_server.metric("arena_socket_path_total", {"path": counted}) == before + 2
    assert path_server.metric("arena_socket_path_total", {"path": other}) == before_other
    for ws, _ in sockets:
        await ws.close()
    warnings = [line for line in path_server.log().splitlines() if FALLBACK_WARNING in line]
    if path == "auto":
        # Under the pinned versions the adapter's checks pass: no fallback at all.
        assert warnings == []
    else:
        assert len(warnings) == 1, warnings  # one per process, not one per socket
        assert "WARNING" in warnings[0] and "SOCKET_FAST_PATH=off" in warnings[0]
