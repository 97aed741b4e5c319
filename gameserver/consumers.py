"""The game socket `/ws/game/<room_name>/` (binary msgpack frames, docs/protocol.md).

A `GameConsumer` handles one socket's incoming frames and nothing on the
per-tick path: snapshots reach the socket through the room hub, which writes
to the socket's ASGI `send` directly. So the consumer has no channel-layer
channel of its own, and it bypasses Channels' per-message thread hop
(`aclose_old_connections`), which would otherwise run for every input.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from engine import protocol
from engine.errors import EngineError, FrameError
from engine.game import AnyGame
from engine.protocol import InputBase, PingFrame
from gameserver import joins, metrics
from gameserver.connection import Connection
from gameserver.manager import Draining, RoomManager, TooManyRooms, get_manager
from gameserver.net.closecodes import CloseCode
from gameserver.net.daphne import FastSocket, fast_socket
from gameserver.net.limits import TokenBucket
from gameserver.net.tasks import TaskGroup
from gameserver.ownership import RedisError
from gameserver.room import RoomStateError
from lobby import games
from lobby import rooms as lobby_rooms
from lobby.auth import query_param, scope_user
from lobby.tokens import Claims, TokenError

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, WebSocketDisconnectEvent
    from channels.consumer import _ChannelScope

    from lobby.models import User

logger = logging.getLogger(__name__)

SERVER_ID = f"{socket.gethostname()}:{os.getpid()}"
"""Names this process in `welcome` frames, so operators see where a socket landed."""


class GameConsumer(AsyncWebsocketConsumer):
    """One player's or spectator's socket in one room."""

    # No per-consumer channel: room traffic arrives through the process's hub.
    channel_layer_alias = "__no_layer__"
    fast_inbound = True

    room: str
    game: AnyGame
    conn: Connection | None = None
    fast: FastSocket | None = None
    manager: RoomManager
    user: User
    _tasks: TaskGroup

    async def __call__(
        self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        # Channels' loop (await_many_dispatch) creates a task and runs
        # asyncio.wait for every incoming frame, to also watch a channel-layer
        # channel this consumer does not have; at 20 inputs per player per
        # second that is most of the cost of an input. One plain loop instead.
        # (No `channel_layer` either: nothing reads it, `groups` is empty.)
        self.scope = scope
        self.base_send = send
        try:
            while True:
                # An ASGI event is a TypedDict: a plain dict at run time.
                await self.dispatch(cast(dict[str, Any], await receive()))
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch runs close_old_connections in a thread for every
        # message; the consumer touches the database only through
        # database_sync_to_async, which does that itself. Frames, the hot
        # path, skip the handler lookup.
        kind = message["type"]
        if kind == "websocket.receive":
            await self.receive(message.get("text"), message.get("bytes"))
            return
        handler = getattr(self, kind.replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"no handler for message type {kind}")
        await handler(message)

    # Connect ------------------------------------------------------------------

    async def connect(self) -> None:
        self.config = settings.ARENA
        self._tasks = TaskGroup("game socket", logger)
        self.room = self.scope["url_route"]["kwargs"]["room_name"]
        self.spectator = query_param(self.scope, "spectate") in {"1", "true", "yes"}
        # Bursts up to one second's worth, like the lobby's.
        self.limiter = TokenBucket(self.config.max_frames_per_second,
                                   self.config.max_frames_per_second)
        self.manager = get_manager()
        await self.accept()
        # One decision per accepted socket: the daphne adapter, or plain ASGI.
        self.fast = fast_socket(self.base_send, enabled=self.config.socket_fast_path != "off")
        metrics.SOCKET_PATH.labels("fast" if self.fast is not None else "fallback").inc()
        scope = cast(dict[str, Any], self.scope)  # the auth middleware's keys are ours
        user = scope_user(scope)
        claims: Claims | None = scope.get("token_claims")
        who: User | Claims | None = user if user is not None else claims
        if who is None:
            await self._refuse_unauthenticated()
            return
        # Before any seat is claimed: a starting process resets stale room state.
        await self.manager.start()
        invite = query_param(self.scope, "invite")
        # `?game=<id>`: the game of a room this socket opens; an open room of
        # another game refuses it (`wrong_game`). Absent: the room's own game.
        wanted = query_param(self.scope, "game") or None
        try:
            # One database call, shared with the joins queued beside it: the
            # token's user (revoked: refused), the room, the seat.
            user, row = await joins.ajoin(
                self.room, who, game=wanted, invite=invite,
                spectator=self.spectator)
            self.game = games.get(row.game)
        except TokenError as exc:
            scope["auth_error"] = exc.code
            await self._refuse_unauthenticated()
            return
        except lobby_rooms.RoomError as exc:
            await self._refuse(CloseCode.FORBIDDEN, exc.code, str(exc))
            return
        except EngineError as exc:  # the row names a game this process does not offer
            await self._refuse(CloseCode.FORBIDDEN, exc.code, exc.message)
            return
        scope["user"] = self.user = user
        self.user_id = int(user.pk)
        self.user_name = user.display_name or user.username
        game_id = self.game.info.id
        self._input_model = self.game.input_model
        self.conn = Connection(
            self.base_send, self.user_id, self.user_name, self.spectator,
            self.config.outbound_buffer_bytes, on_drop=self._dropped, fast=self.fast,
        )
        if not self.spectator:
            old = self.manager.local_player(self.room, self.user_id)
            if old is not None:
                # The newest socket wins; the old consumer's disconnect then
                # gives back its share of the seat.
                await old.close(CloseCode.REPLACED)
        # Welcome first: the hub's first frame for this socket is its full snapshot.
        tick_rate, snapshot_rate = games.rates(game_id)
        await self.send(bytes_data=protocol.welcome(
            self.user_id, self.room, tick_rate, snapshot_rate, self.spectator, SERVER_ID,
            game=game_id,
        ))
        try:
            resumed = await self._enter()
        except TooManyRooms as exc:
            await self._abort(CloseCode.TRY_AGAIN_LATER, "too_many_rooms", str(exc))
            return
        except Draining as exc:
            await self._abort(CloseCode.SERVICE_RESTART, "restarting", str(exc))
            return
        except EngineError as exc:
            await self._abort(CloseCode.FORBIDDEN, exc.code, exc.message)
            return
        except (RoomStateError, RedisError) as exc:
            await self._abort(CloseCode.TRY_AGAIN_LATER, "room_unavailable", str(exc))
            return
        if self.fast_inbound and self.fast is not None:
            # Frames skip the ASGI queue and this task (see _handle).
            self.fast.take_messages(self._handle, self.config.max_frame_bytes)
        if resumed:
            metrics.RECONNECTIONS.inc()
        metrics.CONNECTED.labels("spectator" if self.spectator else "player").inc()

    async def _enter(self) -> bool:
        """Take the seat (or the spectator's place) in the room; True if resuming."""
        assert self.conn is not None
        return await self.manager.enter(self.room, self.conn, self.game.info.id)

    async def _exit(self) -> None:
        assert self.conn is not None
        await self.manager.leave(self.room, self.conn)

    async def _abort(self, close_code: int, code: str, message: str) -> None:
        """Entering the room failed after the welcome: undo and close."""
        assert self.conn is not None
        await self._exit()
        self.conn.closed = True
        self.conn = None
        await self._refuse(close_code, code, message)

    async def _refuse_unauthenticated(self) -> None:
        code = self.scope.get("auth_error")
        code = code if isinstance(code, str) else "unauthenticated"
        await self._refuse(CloseCode.UNAUTHENTICATED, code, "log in or pass ?token=")

    async def _refuse(self, close_code: int, code: str, message: str) -> None:
        metrics.count_close(close_code)
        await self.send(bytes_data=protocol.error(code, message))
        await self.close(code=close_code)

    def _dropped(self, conn: Connection, code: int) -> None:
        metrics.count_close(code)

    # Frames -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self._handle(bytes_data, text_data)

    def _handle(self, bytes_data: bytes | None, text_data: str | None) -> None:
        """One client frame. Synchronous: on the fast path it runs inside the
        adapter's read callback (`FastSocket.take_messages`), so anything that
        waits is started as a task."""
        conn = self.conn
        if conn is None or conn.closed:
            return
        if not self.limiter.allow():
            metrics.REJECTED.labels("rate_limited").inc()
            self._spawn(conn.close(CloseCode.FLOOD))
            return
        size = len(bytes_data) if bytes_data is not None else len((text_data or "").encode())
        if size > self.config.max_frame_bytes:
            metrics.REJECTED.labels("too_big").inc()
            self._spawn(conn.close(CloseCode.MESSAGE_TOO_BIG))
            return
        if bytes_data is None:
            self._reject("bad_frame", "frames must be binary msgpack")
            return
        try:
            frame = protocol.parse_client_frame(bytes_data, self._input_model)
        except FrameError as exc:
            self._reject(exc.code, exc.message)
            return
        if isinstance(frame, InputBase):
            if self.spectator:
                self._reject("spectator", "spectators cannot play")
            elif not self.manager.submit(self.room, self.user_id, frame):
                self._reject("stale_seq", f"seq {frame.seq} is not above the last one sent")
            else:
                metrics.INPUTS_ACCEPTED.count += 1  # flushed per snapshot (metrics.flush)
        elif isinstance(frame, PingFrame):
            self._reply(protocol.pong(frame.id))
        else:
            self._spawn(self._chat(frame.text))

    def _reply(self, data: bytes) -> None:
        """A frame for this socket only, written at once when the server allows."""
        assert self.conn is not None
        if not self.conn.write_now(data):
            self._spawn(self.conn.write(data))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(work)

    async def _chat(self, text: str) -> None:
        from lobby import chat

        try:
            message = await chat.apost(self.user, f"room.{self.room}", text)
        except chat.ChatError as exc:
            self._reject(exc.code, exc.message)
            return
        frame = protocol.chat(
            message["id"], message["user"]["id"], message["user"]["name"], message["text"],
            message["ts"],
        )
        await self.manager.broadcast_frame(self.room, frame)

    def _reject(self, code: str, message: str) -> None:
        metrics.REJECTED.labels(code).inc()
        self._reply(protocol.error(code, message))

    # Disconnect -----------------------------------------------------------------

    async def websocket_disconnect(self, message: WebSocketDisconnectEvent) -> None:
        conn = self.conn
        if conn is not None:
            metrics.CONNECTED.labels("spectator" if self.spectator else "player").dec()
            conn.closed = True
            await self._exit()
        raise StopConsumer()

