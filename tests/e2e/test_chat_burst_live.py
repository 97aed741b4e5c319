"""Chat bursts on live daphne processes: a batch is one write per socket; over Redis too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.players import new_guest
from tests.servers import LiveServer, RedisServer, http_json

pytestmark = [pytest.mark.live]

SENDERS = 4
EACH = 5  # the default chat limit: 5 messages per 5 s per user


async def _lobby(server: LiveServer, token: str) -> ClientConnection:
    ws = await connect(f"{server.ws_url}/ws/lobby/?token={token}")
    for _ in range(3):  # hello, presence, rooms
        await asyncio.wait_for(ws.recv(), 5)
    return ws


async def _chat(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while len(frames) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] != "error", frame
        if frame["type"] == "chat.message":
            frames.append(frame)
    return frames


async def _burst(servers: list[LiveServer]) -> list[list[dict[str, Any]]]:
    """SENDERS users, spread over `servers`, each sends EACH lines at once; what each one got."""
    tokens = [new_guest(servers[i % len(servers)], f"s{i}")[1] for i in range(SENDERS)]
    sockets = [await _lobby(servers[i % len(servers)], t) for i, t in enumerate(tokens)]
    try:
        for k in range(EACH):
            for i, ws in enumerate(sockets):
                await ws.send(json.dumps({"type": "chat.send", "text": f"s{i}-{k}"}))
        return [await _chat(ws, SENDERS * EACH) for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()


def _check(server: LiveServer, got: list[list[dict[str, Any]]]) -> None:
    every = {f"s{i}-{k}" for i in range(SENDERS) for k in range(EACH)}
    for frames in got:
        texts = [f["text"] for f in frames]
        assert set(texts) == every and len(texts) == len(every), "every line, once"
        for i in range(SENDERS):
            mine = [t for t in texts if t.startswith(f"s{i}-")]
            assert mine == [f"s{i}-{k}" for k in range(EACH)], "each sender's lines in order"
    status, history = http_json("GET", f"{server.url}/api/chat/lobby?limit=100")
    assert status == 200
    assert {f["id"] for f in got[0]} <= {m["id"] for m in history["messages"]}


async def test_a_burst_on_one_process_reaches_every_socket_in_one_order(
    daphne_server: LiveServer,
) -> None:
    got = await _burst([daphne_server])
    _check(daphne_server, got)
    ids = [f["id"] for f in got[0]]
    assert all([f["id"] for f in frames] == ids for frames in got), "one order for everyone"
    assert ids == sorted(ids), "ids rise in the order sent"


@pytest.mark.redis
async def test_a_burst_over_two_processes_reaches_every_socket(
    redis_server: RedisServer, start_server: Callable[..., LiveServer]
) -> None:
    servers = [start_server(REDIS_URL=redis_server.url) for _ in range(2)]
    _check(servers[0], await _burst(servers))


@pytest.mark.parametrize("readers", [1, 2])
async def test_the_load_tools_burst_counts_every_copy_once(
    daphne_server: LiveServer, readers: int
) -> None:
    """`load_tests.lobby_burst` (the bench's chat row), its sockets over one or two readers."""
    from load_tests.lobby_burst import lobby_burst

    report = await lobby_burst(daphne_server.url, clients=4, messages=20, quiet_s=3.0,
                               timeout_s=20.0, readers=readers)
    assert report["readers"] == readers
    assert report["delivered"] == report["expected_deliveries"] == 80 and report["lost"] == 0
    assert report["messages_fully_delivered"] == 20 and report["stored"] == 20
    assert report["errors"] == {}
    assert report["latency_ms"]["p99"] is not None and report["reader_cpu_s"] >= 0
