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


def _server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked frame as a server writes it (RFC 6455 §5.2)."""
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def _opened(got: list[bytes | str]) -> tuple[wsclient.LeanWebSocket, _Transport]:
    ws = wsclient.LeanWebSocket(got.append)
    transport = _Transport()
    ws.transport = transport  # type: ignore[assignment]
    ws.open = True
    ws.handshake.set_result(None)
    return ws, transport


@pytest.mark.parametrize("step", [1, 3, 200, 1 << 20])
async def test_every_message_is_whole_however_the_stream_is_split(step: int) -> None:
    """Many frames in one read, or one frame over many reads: the same messages, in order."""
    texts = [f"chat {n} é" for n in range(300)]
    stream = b"".join(_server_frame(wsclient.OP_TEXT, t.encode()) for t in texts)
    stream += _server_frame(wsclient.OP_BINARY, b"\x00" * 300)  # 16-bit length
    stream += _server_frame(wsclient.OP_TEXT, b"x" * 70_000)  # 64-bit length
    stream += _server_frame(wsclient.OP_PING, b"hi")
    stream += _server_frame(wsclient.OP_TEXT, b"frag", fin=False)
    stream += _server_frame(wsclient.OP_CONT, b"mented")
    stream += _server_frame(wsclient.OP_TEXT, b"last")
    got: list[bytes | str] = []
    ws, transport = await _opened(got)
    for i in range(0, len(stream), step):
        ws.data_received(stream[i : i + step])
    assert got == [*texts, b"\x00" * 300, "x" * 70_000, "fragmented", "last"]
    assert len(transport.written) == 1 and transport.written[0][0] == 0x80 | wsclient.OP_PONG
    assert ws.open and not ws._buffer


@pytest.mark.parametrize(("frame", "code"), [
    (bytes((0x81, 0x80 | 2)) + b"\0\0\0\0ab", 1002),  # a masked server frame
    (bytes((0x82, 127)) + (2 << 20).to_bytes(8, "big"), 1009),  # over max_size
])
async def test_a_bad_frame_fails_the_connection(frame: bytes, code: int) -> None:
    got: list[bytes | str] = []
    ws, transport = await _opened(got)
    ws.data_received(_server_frame(wsclient.OP_TEXT, b"before") + frame
                     + _server_frame(wsclient.OP_TEXT, b"after"))
    assert got == ["before"]
    assert ws.close_code == code and not ws.open and transport.closed


async def test_the_servers_close_ends_the_messages() -> None:
    got: list[bytes | str] = []
    ws, transport = await _opened(got)
    ws.data_received(_server_frame(wsclient.OP_TEXT, b"a")
                     + _server_frame(wsclient.OP_CLOSE, (4009).to_bytes(2, "big"))
                     + _server_frame(wsclient.OP_TEXT, b"never"))
    assert got == ["a"] and ws.close_code == 4009 and transport.closed
