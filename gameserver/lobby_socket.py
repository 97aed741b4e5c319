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

Under daphne, once the greeting is sent, the socket's frames come through the
daphne adapter (`FastSocket.take_messages`, docs/sockets.md) to `_take`,
which checks those limits and queues the frames for one task that handles
them in order; without the adapter they come through Channels (`receive`).
"""

from __future__ import annotations

import asyncio
import collections
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
    groups_joined: tuple[str, ...] = ()
    hub_socket: Socket | None = None
    closing = False
    reader: asyncio.Future[None] | None = None
    closer: asyncio.Future[None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox: collections.deque[tuple[str | None, bytes | None]] = collections.deque()
        """Frames taken on the fast path, not handled yet (`_take`)."""

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
        lobby_hub().keep_present(self.channel_name, self.user_id)
        await self.send_frame({"type": "hello", "user": user.public})
        await self.send_frame({"type": "presence", "online": await presence.aonline_count()})
        await self.send_frame({"type": "rooms", "rooms": await rooms.apublic_rooms()})
        fast = self.hub_socket.fast
        if fast is not None:
            # From here on, frames skip autobahn's parser, daphne's queue and
            # Channels' per-frame task and wait: the adapter hands them to
            # `_take` (those that came during the connect first, in order).
            fast.take_messages(self._take, config.lobby_max_frame_bytes)

    async def disconnect(self, code: int) -> None:
        if self.reader is not None:
            self.reader.cancel()
            self.reader = None
        self.inbox.clear()
        if self.hub_socket is not None:
            lobby_hub().remove(self.hub_socket)
            lobby_hub().forget_present(self.channel_name)
            self.hub_socket = None
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = ()
        if self.user_id is not None:
            await presence.aleave(self.channel_name)

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
        """A frame on the plain ASGI path (see `_take` for the daphne adapter's)."""
        if self.user_id is None or self.closing:
            return
        code = self._over_limits(text_data, bytes_data)
        if code is not None:
            await self._close(code)
            return
        await self._frame(text_data, bytes_data)

    def _over_limits(self, text_data: str | None, bytes_data: bytes | None) -> int | None:
        """The close code for a frame over the size or flood limit, else None."""
        limit = settings.ARENA.lobby_max_frame_bytes
        if text_data is not None:
            # UTF-8 takes at most 4 bytes a character: most frames need no encoding.
            if len(text_data) * 4 > limit and len(text_data.encode("utf-8", "replace")) > limit:
                return CloseCode.MESSAGE_TOO_BIG
        elif len(bytes_data or b"") > limit:
            return CloseCode.MESSAGE_TOO_BIG
        if not self.bucket.allow():
            return CloseCode.FLOOD
        return None

    def _take(self, bytes_data: bytes | None, text_data: str | None) -> None:
        """A frame on the daphne adapter's fast path, in its read callback (never blocks).

        The limits are checked here, as the frame arrives (the adapter itself
        closes 1009 on a frame over `lobby_max_frame_bytes` once it reads the
        socket; frames daphne queued before are handed over through here).
        The frames are then handled one at a time, in order, by one task
        (`_read_inbox`).
        """
        if self.closing:
            return
        code = self._over_limits(text_data, bytes_data)
        if code is not None:
            self.closing = True
            self.inbox.clear()
            self.closer = asyncio.ensure_future(self.close(code=code))
            return
        self.inbox.append((text_data, bytes_data))
        if self.reader is None:
            self.reader = asyncio.ensure_future(self._read_inbox())

    async def _read_inbox(self) -> None:
        try:
            while self.inbox and not self.closing:
                text_data, bytes_data = self.inbox.popleft()
                await self._frame(text_data, bytes_data)
        except Exception:
            # What Channels does when a handler raises: the socket ends.
            logger.exception("a lobby frame failed; closing the socket")
            self.inbox.clear()
            await self._close(CloseCode.INTERNAL_ERROR)
        finally:
            self.reader = None

    async def _frame(self, text_data: str | None, bytes_data: bytes | None) -> None:
        """One frame within the limits, from either path."""
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
