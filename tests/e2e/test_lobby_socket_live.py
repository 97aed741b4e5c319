"""The lobby socket on daphne, where its frames take the adapter's fast path (docs/sockets.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.players import close_code_in, new_guest, raw_websocket, read_until_closed
from tests.servers import LiveServer

pytestmark = [pytest.mark.live]


async def _frames(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(count)]


async def test_frames_sent_during_the_connect_are_answered_in_order(
    daphne_server: LiveServer,
) -> None:
    _, token = new_guest(daphne_server, "early")
    async with connect(f"{daphne_server.ws_url}/ws/lobby/?token={token}") as ws:
        # Sent before the greeting: they wait for the connect, then come in order.
        await ws.send(json.dumps({"type": "ping"}))
        await ws.send("not json")
        await ws.send(json.dumps({"type": "chat.send", "text": "early bird"}))
        await ws.send(b"\x00")
        await ws.send(json.dumps({"type": "ping"}))
        frames = await _frames(ws, 8)
    assert [f["type"] for f in frames[:3]] == ["hello", "presence", "rooms"]
    assert frames[3] == {"type": "pong"}
    assert frames[4]["type"] == "error" and frames[4]["code"] == "bad_json"
    rest = frames[5:]
    # The chat line is broadcast by the lobby hub, beside this socket's own replies.
    assert [f["text"] for f in rest if f["type"] == "chat.message"] == ["early bird"]
    replies = [f for f in rest if f["type"] != "chat.message"]
    assert [f.get("code", f["type"]) for f in replies] == ["bad_frame", "pong"]



async def _closed_with(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return caught.value.rcvd.code if caught.value.rcvd is not None else None


@pytest.mark.parametrize("early", [False, True], ids=["after-greeting", "during-connect"])
async def test_a_flood_closes_4008_and_an_oversized_frame_1009(
    start_server: Callable[..., LiveServer], early: bool
) -> None:
    """Also for frames sent before the greeting (daphne queued them during the connect)."""
    server = start_server(LOBBY_FRAMES_PER_SECOND="1", LOBBY_FRAME_BURST="3",
                          LOBBY_MAX_FRAME_BYTES="1000")
    _, token = new_guest(server, "flood")
    async with connect(f"{server.ws_url}/ws/lobby/?token={token}") as ws:
        if not early:
            await _frames(ws, 3)
        for _ in range(20):
            await ws.send(json.dumps({"type": "ping"}))
        assert await _closed_with(ws) == 4008
    _, token = new_guest(server, "big")
    async with connect(f"{server.ws_url}/ws/lobby/?token={token}") as ws:
        if not early:
            await _frames(ws, 3)
        await ws.send(json.dumps({"type": "chat.send", "text": "x" * 2000}))
        assert await _closed_with(ws) == 1009


async def test_a_lobby_client_that_stops_reading_is_closed_4009_and_chat_goes_on(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(OUTBOUND_BUFFER_BYTES="1024", CHAT_RATE_COUNT="1000",
                          LOBBY_FRAMES_PER_SECOND="1000", LOBBY_FRAME_BURST="1000")
    _, slow_token = new_guest(server, "sloth")
    slow = raw_websocket(server, f"/ws/lobby/?token={slow_token}")
    _, token = new_guest(server, "talker")
    lines = [f"line {n} " + "x" * 150 for n in range(200)]
    async with connect(f"{server.ws_url}/ws/lobby/?token={token}") as ws:
        await _frames(ws, 3)
        for line in lines:
            await ws.send(json.dumps({"type": "chat.send", "text": line}))
        got: list[str] = []
        while len(got) < len(lines):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] == "chat.message":
                got.append(frame["text"])
    assert got == lines, "the reading client gets every line, in order"
    received = await read_until_closed(slow)
    assert received.startswith(b"HTTP/1.1 101"), received[:80]
    assert close_code_in(received) in {4009, None}  # None: reset after the close frame
    assert len(received) < sum(len(line) for line in lines), "dropped, not buffered"
