"""Real-socket game clients for end-to-end tests."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from engine import protocol
from engine.arena import codec as arena_codec
from engine.game import SnapshotCodec
from tests.servers import LiveServer, http_json


def new_guest(server: LiveServer, name: str) -> tuple[int, str]:
    status, body = http_json("POST", f"{server.url}/api/session/guest", {"name": name})
    assert status == 201, body
    return body["user"]["id"], body["token"]



def raw_websocket(server: LiveServer, target: str) -> socket.socket:
    """A WebSocket to `target` (path and query) opened by hand with a tiny receive buffer.

    Nothing reads from it until `read_until_closed`: a client that stopped reading.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .encode()
    )
    return sock


async def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sent on a `raw_websocket` until it closed it (or reset it)."""
    sock.setblocking(False)
    received = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                await asyncio.sleep(0.02)
                continue
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk
        raise AssertionError("the server never closed the socket")
    finally:
        sock.close()


def close_code_in(stream: bytes) -> int | None:
    """The code of the close frame in a raw server→client WebSocket byte stream."""
    _, _, rest = stream.partition(b"\r\n\r\n")
    while len(rest) >= 2:
        opcode, length = rest[0] & 0x0F, rest[1] & 0x7F
        offset = 2
        if length == 126:
            (length,) = struct.unpack("!H", rest[2:4])
            offset = 4
        elif length == 127:
            (length,) = struct.unpack("!Q", rest[2:10])
            offset = 10
        payload = rest[offset:offset + length]
        if opcode == 0x8 and len(payload) >= 2:
            return int(struct.unpack("!H", payload[:2])[0])
        rest = rest[offset + length:]
    return None


class Player:
    """A real-socket client that keeps the world from full snapshots and deltas.

    ``codec`` applies the deltas: the room's game's (the arena's by default).
    """

    def __init__(self, ws: ClientConnection, user_id: int, token: str = "",
                 codec: SnapshotCodec = arena_codec) -> None:
        self.ws = ws
        self.codec = codec
        self.user_id = user_id
        self.token = token
        self.state: dict[str, Any] | None = None
        self.snap_times: list[float] = []
        self.ticks: list[int] = []
        self.seq = 0

    async def frame(self) -> dict[str, Any]:
        data = await asyncio.wait_for(self.ws.recv(), 5)
        assert isinstance(data, bytes)
        frame = protocol.decode(data)
        if frame["t"] == "snap":
            self.snap_times.append(time.monotonic())
            self.ticks.append(frame["tick"])
            self.state = frame if frame["full"] else self.codec.apply(frame, self.state or {})
        return frame

    async def until_frame(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame for which ``check`` is true (at most 1,000 frames)."""
        for _ in range(1000):
            frame = await self.frame()
            if check(frame):
                return frame
        raise AssertionError("no such frame")

    async def until(self, check: Callable[[], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "condition not reached in time"
            await self.frame()


    async def move(self, mx: float = 0.0, my: float = 0.0) -> None:
        self.seq += 1
        await self.ws.send(protocol.encode(
            {"t": "input", "seq": self.seq, "mx": mx, "my": my, "aim": 0.0, "fire": False}))

    def position(self, user_id: int) -> list[int]:
        assert self.state is not None
        return list(self.state["players"][user_id][:2])


async def join(server: LiveServer, room: str, name: str, token: str = "") -> Player:
    """A guest (or the holder of `token`) joins `room` on `server` and reads the welcome."""
    if token:
        status, body = http_json("GET", f"{server.url}/api/session", token=token)
        assert status == 200, body
        user_id = body["user"]["id"]
    else:
        user_id, token = new_guest(server, name)
    ws = await connect(f"{server.ws_url}/ws/game/{room}/?token={token}")
    player = Player(ws, user_id, token)
    assert (await player.frame())["t"] == "welcome"
    return player


async def poll(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check()` without blocking the event loop (socket readers keep running)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.05)


async def read_forever(player: Player, seconds: float = 60) -> None:
    """Apply the player's frames until cancelled, closed or `seconds` have passed
    (snapshot ticks land in `player.ticks`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(player.frame(), 0.5)
        except TimeoutError:
            continue
        except ConnectionClosed:
            return
