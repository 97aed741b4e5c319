"""The lobby socket's contract: auth, greeting, bad frames, size and flood limits."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from lobby.models import ChatMessage
from tests.lobby.helpers import LobbyClient, anew_user

pytestmark = pytest.mark.django_db
TX = pytest.mark.django_db(transaction=True)


@TX
@pytest.mark.parametrize("token", [None, "forged:token:value", ""])
async def test_unauthenticated_is_accepted_then_closed_4001(token: str | None) -> None:
    client = LobbyClient(token)
    connected, _ = await client.ws.connect()
    assert connected, "accepted so the client can read why"
    error = await client.of_type("error")
    assert error["code"] in {"unauthenticated", "bad_token"}
    assert await client.closed() == 4001


@TX
async def test_foreign_browser_origin_is_refused() -> None:
    from gameserver.asgi import application

    _, token = await anew_user()
    ws = WebsocketCommunicator(application, f"/ws/lobby/?token={token}",
                               headers=[(b"origin", b"https://evil.example")])
    connected, _ = await ws.connect()
    assert not connected


@TX
async def test_greeting_is_hello_presence_rooms() -> None:
    user, token = await anew_user("ann")
    client = LobbyClient(token)
    await client.ws.connect()
    frames = [await client.next_frame() for _ in range(3)]
    assert [f["type"] for f in frames] == ["hello", "presence", "rooms"]
    assert frames[0]["user"] == {"id": user.pk, "name": "ann"}
    assert frames[1]["online"] == 1 and frames[2]["rooms"] == []
    await client.send({"type": "ping"})
    assert (await client.next_frame()) == {"type": "pong"}
    await client.disconnect()


@TX
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("{", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('"chat.send"', "bad_frame"),
        ("null", "bad_frame"),
        ("{}", "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "launch.missiles"}', "unknown_type"),
        ('{"type": "chat.send"}', "invalid"),
        ('{"type": "chat.send", "text": {"a": 1}}', "invalid"),
    ],
)
async def test_bad_frames_get_an_error_and_change_nothing(raw: str, code: str) -> None:
    _, token = await anew_user()
    client = await LobbyClient(token).connect()
    await client.send_raw(text=raw)
    error = await client.of_type("error")
    assert set(error) == {"type", "code", "message"} and error["code"] == code
    # The socket stays usable.
    await client.send({"type": "chat.send", "text": "still here"})
    assert (await client.of_type("chat.message"))["text"] == "still here"
    assert await ChatMessage.objects.acount() == 1
    await client.disconnect()


@TX
async def test_binary_frames_are_refused_with_an_error() -> None:
    _, token = await anew_user()
    client = await LobbyClient(token).connect()
    await client.send_raw(data=b'{"type": "ping"}')
    assert (await client.of_type("error"))["code"] == "bad_frame"
    await client.disconnect()


@TX
async def test_oversized_frame_closes_1009(arena: Any) -> None:
    arena(lobby_max_frame_bytes=512)
    _, token = await anew_user()
    client = await LobbyClient(token).connect()
    await client.send({"type": "chat.send", "text": "x" * 600})
    assert await client.closed() == 1009
    assert await ChatMessage.objects.acount() == 0


@TX
async def test_flood_closes_4008(arena: Any) -> None:
    arena(lobby_frames_per_second=1, lobby_frame_burst=5)
    _, token = await anew_user()
    client = await LobbyClient(token).connect()
    for _ in range(20):
        await client.send({"type": "ping"})
    assert await client.closed() == 4008


@TX
async def test_frames_are_answered_while_the_database_thread_is_busy() -> None:
    """A socket's frames never wait for the database thread (a chat batch being stored)."""
    _, token = await anew_user()
    client = await LobbyClient(token).connect()
    release = threading.Event()
    # The one thread-sensitive thread is held until the pong has come back.
    busy = asyncio.ensure_future(sync_to_async(release.wait)())
    try:
        await client.send({"type": "ping"})
        assert (await client.next_frame()) == {"type": "pong"}
    finally:
        release.set()
        await busy
    await client.disconnect()
