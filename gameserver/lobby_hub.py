"""The lobby hub: this process's one member of the `lobby` group.

A lobby-wide frame (chat, presence, room list) is one `group_send` to the
`lobby` group. With one member per lobby socket, that is one channel-layer
message, one queue wake-up and one consumer dispatch per socket per frame:
the pattern docs/benchmarks.md measured collapsing for game snapshots, and a chat
burst to a full lobby is the same load. Instead the group has one member per
process, this hub, which encodes each frame to JSON once and writes it
straight to every local lobby socket; a batch of frames (`lobby.frames`, a
batch of stored chat messages) is one write per socket. A socket whose client stopped reading
(more than OUTBOUND_BUFFER_BYTES queued, knowable on the daphne adapter's
fast path) is closed with 4009 rather than buffered without bound.

Per-user frames (notifications) still go to each socket's own `user.<id>`
group: they are rare and addressed to one user.

The hub also keeps its sockets' presence rows fresh: one heartbeat
transaction for all of them every `presence_heartbeat_seconds`
(`lobby.presence.heartbeat_many`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from django.conf import settings

from gameserver.net.daphne import Send, fast_socket, websocket_frame
from gameserver.net.perloop import PerLoop
from gameserver.net.receiver import receive_forever
from gameserver.net.socket import Socket
from lobby import presence, push

logger = logging.getLogger(__name__)



def encode(frame: dict[str, Any]) -> str:
    """A lobby frame as the JSON text sent on the wire."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class LobbyHub:
    """Local lobby sockets of this process and the fan-out of lobby-wide frames."""

    def __init__(self) -> None:
        self.layer = push.channel_layer()
        self.sockets: list[Socket] = []
        self.channel: str | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self.present: dict[str, int] = {}
        """Channel name → user id of each local lobby socket whose presence row is kept."""
        self._heartbeat: asyncio.Task[None] | None = None

    async def add(self, send: Send) -> Socket:
        """Register a lobby socket; it gets every lobby-wide frame from now on."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)
        fast = fast_socket(send, enabled=settings.ARENA.socket_fast_path != "off")
        sock = Socket(send, settings.ARENA.outbound_buffer_bytes, fast, label="lobby")
        self.sockets.append(sock)
        return sock

    def remove(self, sock: Socket) -> None:
        sock.closed = True
        if sock in self.sockets:
            self.sockets.remove(sock)

    def keep_present(self, channel_name: str, user_id: int) -> None:
        """Refresh this socket's presence row, with the others', every heartbeat."""
        self.present[channel_name] = user_id
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(
                self._heartbeats(), name="lobby-presence-heartbeat")

    def forget_present(self, channel_name: str) -> None:
        """Stop refreshing the socket's row (before it is deleted on disconnect)."""
        self.present.pop(channel_name, None)

    async def _heartbeats(self) -> None:
        # One transaction for every local socket's row per interval, not one
        # per socket (200 sockets made ~13 a second on the database thread).
        # Rows and deletions go through the one database thread in order, so
        # a socket forgotten before its row is deleted is never recreated.
        try:
            while self.present:
                await asyncio.sleep(float(settings.ARENA.presence_heartbeat_seconds))
                sockets = list(self.present.items())
                if not sockets:
                    break
                try:
                    await presence.aheartbeat_many(sockets)
                except Exception:
                    # A database hiccup must not end presence: the next beat
                    # retries well before the rows expire.
                    logger.exception("lobby presence heartbeat failed")
        finally:
            self._heartbeat = None

    async def _start(self) -> None:
        self.channel = await self.layer.new_channel("lobbyhub.")
        await self.layer.group_add(push.LOBBY_GROUP, self.channel)
        self._receiver = asyncio.get_running_loop().create_task(
            receive_forever(self.layer, self.channel, self._receive), name="lobby-hub-receiver"
        )

    async def _receive(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == push.FRAME:
            await self.deliver(message["frame"])
        elif kind == push.FRAMES:
            await self.deliver_many(message["frames"])

    async def deliver(self, frame: dict[str, Any]) -> None:
        """Write one frame, encoded once, to every local lobby socket."""
        await self.deliver_many([frame])

    async def deliver_many(self, frames: list[dict[str, Any]]) -> None:
        """Write frames, in order, each encoded once, to every local lobby socket.

        Their WebSocket frames are joined into one write per socket where the
        server allows (a batch of chat messages: one write, not one per message).
        """
        if not frames:
            return
        texts = [encode(frame) for frame in frames]
        framed = b"".join(websocket_frame(text.encode(), text=True) for text in texts)
        for sock in tuple(self.sockets):
            await sock.write_many(texts, framed)
            if sock.closed:
                self.remove(sock)


_hubs = PerLoop(LobbyHub)


def lobby_hub() -> LobbyHub:
    """The lobby hub of the running event loop (one per server process)."""
    return _hubs.get()
