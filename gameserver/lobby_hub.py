"""The lobby hub: this process's one member of the `lobby` group.

A lobby-wide frame (chat, presence, room list) is one `group_send` to the
`lobby` group. With one member per lobby socket, that is one channel-layer
message, one queue wake-up and one consumer dispatch per socket per frame:
the pattern DESIGN.md measured collapsing for game snapshots, and a chat
burst to a full lobby is the same load. Instead the group has one member per
process, this hub, which encodes each frame to JSON once and writes it
straight to every local lobby socket. A socket whose client stopped reading
(more than OUTBOUND_BUFFER_BYTES queued, knowable on the daphne adapter's
fast path) is closed with 4009 rather than buffered without bound.

Per-user frames (notifications) still go to each socket's own `user.<id>`
group: they are rare and addressed to one user.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from gameserver.net.closecodes import CloseCode
from gameserver.net.daphne import Send, fast_socket, websocket_frame
from gameserver.net.perloop import PerLoop
from gameserver.net.receiver import receive_forever
from lobby import push

logger = logging.getLogger(__name__)



def encode(frame: dict[str, Any]) -> str:
    """A lobby frame as the JSON text sent on the wire."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class LobbySocket:
    """One local lobby socket as the hub writes to it."""

    __slots__ = ("_close_send", "_frame_writer", "_pending", "_send", "closed")

    def __init__(self, send: Send) -> None:
        fast = fast_socket(send, enabled=settings.ARENA.socket_fast_path != "off")
        self._send = fast.send if fast is not None else send
        self._close_send = send
        self._pending: Callable[[], int] | None = fast.pending_bytes if fast is not None else None
        self._frame_writer = fast.write if fast is not None else None
        self.closed = False

    async def write(self, text: str, frame: bytes, limit: int) -> None:
        if self.closed:
            return
        if self._pending is not None and self._pending() > limit:
            self.closed = True
            await self._close_send({"type": "websocket.close", "code": CloseCode.SLOW_CLIENT})
            return
        if self._frame_writer is not None and self._frame_writer(frame):
            return
        try:
            await self._send({"type": "websocket.send", "text": text})
        except Exception:  # the client went away between frames
            self.closed = True


class LobbyHub:
    """Local lobby sockets of this process and the fan-out of lobby-wide frames."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.sockets: list[LobbySocket] = []
        self.channel: str | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None

    async def add(self, send: Send) -> LobbySocket:
        """Register a lobby socket; it gets every lobby-wide frame from now on."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)
        sock = LobbySocket(send)
        self.sockets.append(sock)
        return sock

    def remove(self, sock: LobbySocket) -> None:
        sock.closed = True
        if sock in self.sockets:
            self.sockets.remove(sock)

    async def _start(self) -> None:
        self.channel = await self.layer.new_channel("lobbyhub.")
        await self.layer.group_add(push.LOBBY_GROUP, self.channel)
        self._receiver = asyncio.get_running_loop().create_task(
            receive_forever(self.layer, self.channel, self._receive), name="lobby-hub-receiver"
        )

    async def _receive(self, message: dict[str, Any]) -> None:
        if message.get("type") == push.FRAME:
            await self.deliver(message["frame"])

    async def deliver(self, frame: dict[str, Any]) -> None:
        """Write one frame, encoded once, to every local lobby socket."""
        text = encode(frame)
        framed = websocket_frame(text.encode(), text=True)
        limit = settings.ARENA.outbound_buffer_bytes
        for sock in tuple(self.sockets):
            await sock.write(text, framed, limit)
            if sock.closed:
                self.remove(sock)


_hubs = PerLoop(LobbyHub)


def lobby_hub() -> LobbyHub:
    """The lobby hub of the running event loop (one per server process)."""
    return _hubs.get()
