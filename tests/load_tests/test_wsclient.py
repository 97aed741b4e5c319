"""The bots' lean WebSocket client against a real `websockets` server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from load_tests import wsclient


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        if message == "close please":
            await ws.close(4003, "bye")
            return
        await ws.send(message)


def refuse_forbidden(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.startswith("/forbidden"):
        return connection.respond(403, "no\n")
    return None


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async with serve(echo, "127.0.0.1", 0, process_request=refuse_forbidden,
                     compression=None) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def test_messages_round_trip_in_order(server: str) -> None:
    got: list[bytes | str] = []
    payloads: list[bytes | str] = [b"", b"\x00\x01", b"x" * 200, b"y" * 70_000, "héllo"]
    all_back = asyncio.Event()

    def collect(message: bytes | str) -> None:
        got.append(message)
        if len(got) == len(payloads):
            all_back.set()

    ws = await wsclient.connect(f"{server}/path?x=1", collect)
    for payload in payloads:
        ws.send(payload)
    await asyncio.wait_for(all_back.wait(), 5)
    assert got == payloads
    await ws.close()
    assert ws.close_code == 1000


async def test_server_close_code_is_reported(server: str) -> None:
    ws = await wsclient.connect(server, lambda _: None)
    ws.send("close please")
    await asyncio.wait_for(ws.closed, 5)
    assert ws.close_code == 4003 and not ws.open


async def test_refused_handshake_names_the_status(server: str) -> None:
    with pytest.raises(wsclient.HandshakeError) as caught:
        await wsclient.connect(f"{server}/forbidden", lambda _: None)
    assert caught.value.status == 403
