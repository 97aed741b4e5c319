"""The lobby socket `/ws/lobby/`: JSON text frames (docs/protocol.md, "Lobby socket").

On connect an authenticated user's socket joins this process's lobby hub
(the `lobby` group's one member here, gameserver/lobby_hub.py) and their own
`user.<id>` group (so every open tab gets their notifications), registers
presence, and receives the current `presence` and `rooms` frames.
Unauthenticated sockets are accepted, sent an `error`, then closed 4001.
When the user logs out (`lobby.accounts.logout_session`), every open lobby
socket of theirs is sent `error` `logged_out` and closed 4001.

Client frames: `{"type": "chat.send", "text"}` and `{"type": "ping"}`
(answered `{"type": "pong"}`). Anything else that is not a well-formed known
frame gets `{"type": "error", "code", "message"}` and changes nothing. A frame
over `lobby_max_frame_bytes` closes 1009; more than `lobby_frame_burst`
frames beyond `lobby_frames_per_second` closes 4008.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from gameserver.lobby_hub import encode, lobby_hub
from gameserver.net.closecodes import CloseCode
from gameserver.net.limits import TokenBucket
from gameserver.net.socket import Socket
from lobby import chat, presence, push, rooms
from lobby.auth import aresolve_user, scope_user

logger = logging.getLogger(__name__)



class LobbyConsumer(AsyncWebsocketConsumer):
    """One lobby socket (one browser tab or bot)."""

    user_id: int | None = None
    heartbeat: asyncio.Task[None] | None = None
    groups_joined: tuple[str, ...] = ()
    hub_socket: Socket | None = None
    closing = False

    async def connect(self) -> None:
        await self.accept()
        user = await aresolve_user(cast(dict[str, Any], self.scope))
        if user is None:
            code = self.scope.get("auth_error", "unauthenticated")
            await self.send_frame({"type": "error", "code": code,
                                   "message": "log in or pass ?token="})
            await self.close(code=CloseCode.UNAUTHENTICATED)
            return
        config = settings.ARENA
        self.user_id = int(user.pk)
        self.bucket = TokenBucket(config.lobby_frames_per_second, config.lobby_frame_burst)
        # Presence first, so the change is pushed to the others (not to this
        # socket, which is sent the current count itself just below).
        await presence.aenter(self.channel_name, self.user_id)
        # Lobby-wide frames arrive through this process's lobby hub; only the
        # user's own group (notifications) is joined per socket.
        self.groups_joined = (push.user_group(self.user_id),)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.hub_socket = await lobby_hub().add(self.base_send)
        self.heartbeat = asyncio.create_task(self._heartbeat())
        self.heartbeat.add_done_callback(self._heartbeat_done)
        await self.send_frame({"type": "hello", "user": user.public})
        await self.send_frame({"type": "presence", "online": await presence.aonline_count()})
        await self.send_frame({"type": "rooms", "rooms": await rooms.apublic_rooms()})

    async def disconnect(self, code: int) -> None:
        if self.hub_socket is not None:
            lobby_hub().remove(self.hub_socket)
            self.hub_socket = None
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            self.heartbeat = None
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = ()
        if self.user_id is not None:
            await presence.aleave(self.channel_name)

    async def _heartbeat(self) -> None:
        assert self.user_id is not None
        interval = float(settings.ARENA.presence_heartbeat_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                await presence.aheartbeat(self.channel_name, self.user_id)
            except Exception:
                # A database hiccup must not end presence for this socket:
                # the next beat retries well before the row expires.
                logger.exception("lobby presence heartbeat failed")

    def _heartbeat_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("lobby heartbeat task died", exc_info=task.exception())

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch first runs close_old_connections on the database
        # thread for every message: under a chat burst, each frame of every
        # socket waited there behind the chat batches being stored. This
        # consumer touches the database only through database_sync_to_async,
        # which closes old connections itself.
        if message["type"] == "websocket.receive":
            await self.receive(message.get("text"), message.get("bytes"))
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    # Frames from the client -------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user_id is None or self.closing:
            return
        raw = text_data if text_data is not None else bytes_data or b""
        size = len(raw.encode("utf-8", "replace")) if isinstance(raw, str) else len(raw)
        if size > settings.ARENA.lobby_max_frame_bytes:
            await self._close(CloseCode.MESSAGE_TOO_BIG)
            return
        if not self.bucket.allow():
            await self._close(CloseCode.FLOOD)
            return
        if text_data is None:
            await self.error("bad_frame", "frames must be JSON text")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.error("bad_json", "frame is not valid JSON")
            return
        if not isinstance(frame, dict):
            await self.error("bad_frame", "frame must be a JSON object")
            return
        kind = frame.get("type")
        if kind == "chat.send":
            await self._chat_send(frame)
        elif kind == "ping":
            await self.send_frame({"type": "pong"})
        elif not isinstance(kind, str):
            await self.error("bad_frame", 'frame needs a string "type"')
        else:
            await self.error("unknown_type", f"unknown frame type {kind[:40]!r}")

    async def _chat_send(self, frame: dict[str, Any]) -> None:
        text = frame.get("text")
        if not isinstance(text, str):
            await self.error("invalid", '"text" must be a string')
            return
        user = scope_user(self.scope)
        assert user is not None  # receive() drops the frames of unauthenticated sockets
        try:
            await chat.apost(user, "lobby", text)
        except chat.ChatError as exc:
            await self.error(exc.code, exc.message)

    async def _close(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    # Output ---------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode(frame))

    async def error(self, code: str, message: str) -> None:
        await self.send_frame({"type": "error", "code": code, "message": message})

    async def lobby_revoked(self, message: dict[str, Any]) -> None:
        """The user logged out (`POST /api/session/logout`): close with 4001."""
        if not self.closing:
            await self.error("logged_out", "the session was ended; log in again")
            await self._close(CloseCode.UNAUTHENTICATED)

    async def lobby_frame(self, message: dict[str, Any]) -> None:
        """A frame pushed to one of this socket's groups (`lobby.push`)."""
        if not self.closing:
            await self.send_frame(message["frame"])
