"""Test helpers for the lobby: users with tokens, a lobby-socket client, HTTP calls."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from lobby import tokens
from lobby.accounts import create_guest
from lobby.models import User

TIMEOUT = 5.0


def make_user(name: str = "ann") -> tuple[User, str]:
    user = create_guest(name)
    return user, tokens.issue(user)


anew_user = database_sync_to_async(make_user)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_json(client: Client, path: str, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, raw, content_type="application/json", headers=headers)


def assert_error(answer: Any, status: int, code: str | None = None) -> None:
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body


@sync_to_async
def aget(path: str, token: str | None = None) -> Any:
    return Client().get(path, headers=bearer(token) if token else {})


@sync_to_async
def apost(path: str, body: Any, token: str | None = None) -> Any:
    return post_json(Client(), path, body, **(bearer(token) if token else {}))


class LobbyClient:
    """A lobby socket over WebsocketCommunicator on the real ASGI application."""

    def __init__(self, token: str | None, query: str = "") -> None:
        from gameserver.asgi import application

        params = [p for p in (f"token={token}" if token else "", query) if p]
        path = "/ws/lobby/" + ("?" + "&".join(params) if params else "")
        self.ws = WebsocketCommunicator(application, path)
        self.seen: list[dict[str, Any]] = []
        self.closed_code: int | None = None
        self.rooms: list[dict[str, Any]] = []
        self.online: int | None = None

    async def connect(self) -> LobbyClient:
        """Connect and read the greeting (`hello`, `presence`, `rooms`)."""
        connected, _ = await self.ws.connect(timeout=TIMEOUT)
        assert connected
        hello = await self.next_frame()
        assert hello["type"] == "hello", hello
        await self.until(lambda f: f["type"] == "rooms")
        assert self.online is not None
        return self

    async def next_frame(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        message = await self.ws.receive_output(timeout)
        if message["type"] == "websocket.close":
            self.closed_code = message.get("code", 1000)
            return {"type": "__closed__", "code": self.closed_code}
        assert message.get("text") is not None, f"binary frame on lobby socket: {message}"
        frame: dict[str, Any] = json.loads(message["text"])
        if frame["type"] == "rooms":
            self.rooms = frame["rooms"]
        elif frame["type"] == "presence":
            self.online = frame["online"]
        return frame

    async def until(self, predicate: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Read frames until one satisfies `predicate`; the others are kept in `seen`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.next_frame(left)
            if predicate(frame):
                return frame
            if frame["type"] == "__closed__":
                raise AssertionError(f"socket closed with {frame['code']} while waiting")
            self.seen.append(frame)

    async def of_type(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.until(lambda f: f["type"] == kind, timeout)

    async def closed(self, timeout: float = TIMEOUT) -> int:
        frame = await self.until(lambda f: f["type"] == "__closed__", timeout)
        return int(frame["code"])

    async def nothing_of(self, kind: str, timeout: float = 0.3) -> None:
        """Assert no frame of `kind` arrives within `timeout` (absence can only be waited for).

        Uses `receive_nothing`, which, unlike a timed-out `receive_output`,
        leaves the application running.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            if await self.ws.receive_nothing(left):
                return
            frame = await self.next_frame()
            assert frame["type"] != kind, f"unexpected {kind} frame: {frame}"
            self.seen.append(frame)

    async def send(self, frame: Any) -> None:
        await self.ws.send_to(text_data=json.dumps(frame))

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.ws.send_to(text_data=text, bytes_data=data)

    async def disconnect(self) -> None:
        await self.ws.disconnect()
