"""The game socket on a live daphne server with real TCP sockets."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed

from engine import protocol
from tests.e2e.players import close_code_in, join, new_guest, raw_websocket, read_until_closed
from tests.servers import LiveServer


def http_text(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.status, answer.read().decode()

pytestmark = pytest.mark.live


async def test_two_players_see_each_other_move(daphne_server: LiveServer) -> None:
    a = await join(daphne_server, "live-1", "amy")
    b = await join(daphne_server, "live-1", "bob")
    await a.until(lambda: a.state is not None and b.user_id in a.state["players"])
    await b.until(lambda: b.state is not None and a.user_id in b.state["players"])
    a_start = b.state["players"][a.user_id][0]  # type: ignore[index]
    b_start = a.state["players"][b.user_id][1]  # type: ignore[index]
    for seq in range(1, 21):
        await a.ws.send(protocol.encode(
            {"t": "input", "seq": seq, "mx": 1.0, "my": 0.0, "aim": 0.0, "fire": False}))
        await b.ws.send(protocol.encode(
            {"t": "input", "seq": seq, "mx": 0.0, "my": 1.0, "aim": 0.0, "fire": False}))
        await a.frame()
        await b.frame()
    await b.until(lambda: b.state["players"][a.user_id][0] > a_start)  # type: ignore[index]
    await a.until(lambda: a.state["players"][b.user_id][1] > b_start)  # type: ignore[index]
    await a.ws.close()
    await b.ws.close()


async def test_a_client_that_does_not_read_is_dropped_and_others_keep_full_rate(
    start_server: Callable[..., LiveServer],
) -> None:
    rate = 60
    server = start_server(TICK_RATE=str(rate), SNAPSHOT_RATE=str(rate),
                          OUTBOUND_BUFFER_BYTES="1024")
    reader = await join(server, "slow-1", "reader")
    _, slow_token = new_guest(server, "sloth")
    slow = raw_websocket(server, f"/ws/game/slow-1/?token={slow_token}")
    # Keep the room busy so every snapshot carries movement.
    window = 4.0
    started = time.monotonic()
    seq = 0
    while time.monotonic() - started < window:
        seq += 1
        await reader.ws.send(protocol.encode(
            {"t": "input", "seq": seq, "mx": 1.0 if seq % 40 < 20 else -1.0, "my": 0.0,
             "aim": 0.0, "fire": seq % 10 == 0}))
        await reader.frame()
    in_window = [t for t in reader.snap_times if t >= started + 1.0]
    assert len(in_window) >= 0.9 * rate * (window - 1.0), (
        f"the reading client got {len(in_window)} snapshots in {window - 1.0}s at {rate} Hz"
    )
    # Now read what the slow socket was sent: it ends with a 4009 close (or, when
    # the server gave up on the closing handshake, a reset).
    received = await read_until_closed(slow)
    assert received.startswith(b"HTTP/1.1 101"), received[:80]
    assert close_code_in(received) in {4009, None}
    status, text = http_text(f"{server.url}/metrics")
    assert status == 200
    assert 'arena_closes_total{code="4009"} 1.0' in text
    await reader.ws.close()


async def test_oversized_frame_closes_1009_under_daphne(daphne_server: LiveServer) -> None:
    # Daphne's autobahn refuses to send 1009 itself; the server must still close with it.
    player = await join(daphne_server, "live-big", "big")
    await player.ws.send(protocol.encode({"t": "chat", "text": "x" * 10_000}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await player.frame()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_inputs_sent_right_after_the_handshake_keep_their_order(
    daphne_server: LiveServer,
) -> None:
    # The first inputs race the server's join work; none may be lost or reordered.
    user_id, token = new_guest(daphne_server, "eager")
    from websockets.asyncio.client import connect

    async with connect(f"{daphne_server.ws_url}/ws/game/live-eager/?token={token}") as ws:
        for seq in range(1, 31):
            await ws.send(protocol.encode(
                {"t": "input", "seq": seq, "mx": 0.5, "my": 0.0, "aim": 0.0, "fire": False}))
        acked = -1
        async with asyncio.timeout(10):
            while acked < 30:
                frame = protocol.decode(await ws.recv())  # type: ignore[arg-type]
                assert frame["t"] != "error", frame
                if frame["t"] == "snap":
                    acked = frame["acks"].get(user_id, acked)
