"""A small test client of the game socket over Channels' WebsocketCommunicator.

It keeps the decoded world the way a real client does (full snapshot, then
deltas applied with the engine's codec) so tests can assert on what a player
would see.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from engine import protocol
from engine.arena import codec
from lobby import tokens
from lobby.accounts import create_guest

TIMEOUT = 5.0


@sync_to_async
def new_guest(name: str = "ann") -> tuple[int, str]:
    user = create_guest(name)
    return int(user.pk), tokens.issue(user)


class GameClient:
    def __init__(self, room: str, token: str | None, query: str = "", codec: Any = codec,
                 app: Any = None) -> None:
        from gameserver.asgi import application

        self.codec = codec
        params = [p for p in (f"token={token}" if token else "", query) if p]
        path = f"/ws/game/{room}/" + ("?" + "&".join(params) if params else "")
        self.ws = WebsocketCommunicator(app or application, path)
        self.state: dict[str, Any] | None = None
        self.snapshots = 0
        self.others: list[dict[str, Any]] = []
        self.closed_code: int | None = None

    async def connect(self) -> dict[str, Any]:
        connected, _ = await self.ws.connect(timeout=TIMEOUT)
        assert connected
        return await self.next_frame()

    async def next_frame(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame; snapshots are applied to `state` as they pass."""
        message = await self.ws.receive_output(timeout)
        if message["type"] == "websocket.close":
            self.closed_code = message.get("code", 1000)
            return {"t": "__closed__", "code": self.closed_code}
        assert message.get("bytes") is not None, f"text frame on game socket: {message}"
        frame = protocol.decode(message["bytes"])
        if frame["t"] == "snap":
            self.snapshots += 1
            if frame["full"]:
                self.state = frame
            else:
                assert self.state is not None, "a delta arrived before any full snapshot"
                self.state = self.codec.apply(frame, self.state)
        return frame

    async def until(self, predicate: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Read frames until one satisfies `predicate(frame)`; others are kept in `others`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.next_frame(left)
            if predicate(frame):
                return frame
            if frame["t"] == "__closed__":
                raise AssertionError(f"socket closed with {frame['code']} while waiting")
            if frame["t"] != "snap":
                self.others.append(frame)

    async def closed(self, timeout: float = TIMEOUT) -> int:
        frame = await self.until(lambda f: f["t"] == "__closed__", timeout)
        return int(frame["code"])

    async def error(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.until(lambda f: f["t"] == "error", timeout)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_to(bytes_data=protocol.encode(frame))

    async def send_raw(self, data: bytes) -> None:
        await self.ws.send_to(bytes_data=data)

    async def send_input(self, seq: int, mx: float = 0.0, my: float = 0.0, fire: bool = False,
                         aim: float = 0.0) -> None:
        await self.send({"t": "input", "seq": seq, "mx": mx, "my": my, "aim": aim, "fire": fire})

    @property
    def world(self) -> dict[str, Any]:
        """`state`, once a full snapshot has arrived."""
        assert self.state is not None, "no full snapshot yet"
        return self.state

    def player(self, player_id: int) -> Any:
        return self.world["players"].get(player_id)

    async def disconnect(self) -> None:
        await self.ws.disconnect()
