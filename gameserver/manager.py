"""The room manager: this process's rooms, hubs and channel-layer endpoint.

One manager per event loop (one per server process). It

- creates a room's `RoomEngine` when its first player arrives here and
  cancels it when the room is disposed (consumers never own tasks);
- keeps one `RoomHub` per room with local sockets, and puts this process's
  single channel in the room group while it has any;
- runs the one receive loop that hands room-group messages to hubs;
- connects the engine's hooks to the lobby (room list, seats, match results)
  in background tasks, off the tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from engine import protocol
from gameserver import metrics
from gameserver.connection import CLOSE_KICKED, CLOSE_ROOM_GONE, Connection
from gameserver.hub import RoomHub
from gameserver.room import RoomEngine, RoomSettings

logger = logging.getLogger(__name__)


def group_name(room: str) -> str:
    return f"room.{room}"


class TooManyRooms(Exception):
    """This process already runs MAX_ROOMS_PER_PROCESS rooms."""


class RoomManager:
    """Rooms of this process (see module docstring)."""

    def __init__(self) -> None:
        self.config = settings.ARENA
        self.layer = get_channel_layer()
        self.engines: dict[str, RoomEngine] = {}
        self.hubs: dict[str, RoomHub] = {}
        self.channel: str | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    # Rooms ------------------------------------------------------------------

    async def engine_for(self, room: str) -> RoomEngine:
        """The room's engine, created and started here if it does not run yet."""
        async with self._lock:
            engine = self.engines.get(room)
            if engine is not None:
                return engine
            if len(self.engines) >= self.config.max_rooms_per_process:
                raise TooManyRooms(f"this process already runs {len(self.engines)} rooms")
            engine = RoomEngine(
                room,
                RoomSettings(
                    tick_rate=self.config.tick_rate,
                    snapshot_rate=self.config.snapshot_rate,
                    idle_seconds=self.config.room_idle_seconds,
                    grace_seconds=self.config.reconnect_grace_seconds,
                    max_players=self.config.max_players_per_room,
                ),
                publish=self.publish,
                on_event=lambda kind, data: self._engine_event(room, kind, data),
                on_closed=self._engine_closed,
            )
            self.engines[room] = engine
            metrics.ROOMS.set(len(self.engines))
            engine.start()
            return engine

    def engine(self, room: str) -> RoomEngine | None:
        return self.engines.get(room)

    async def close_room(self, room: str, reason: str = "closed") -> None:
        """Stop a room's engine; its sockets everywhere are closed with 4004."""
        engine = self.engines.get(room)
        if engine is not None:
            await engine.stop(reason)

    async def kick(self, room: str, user_id: int) -> None:
        """Staff action: close the player's sockets (4011) and take them out of the match now."""
        await self.publish({"type": "room.kick", "room": room, "user_id": user_id})

    async def announce(self, text: str, room: str | None = None) -> None:
        """Staff action: a `notice` frame to every socket of one room, or of every room."""
        frame = protocol.encode({"t": "notice", "text": text})
        targets = [room] if room is not None else sorted(set(self.engines) | set(self.hubs))
        for name in targets:
            await self.broadcast_frame(name, frame)

    def room_stats(self) -> list[dict[str, Any]]:
        """Rooms whose engine runs in this process, for the staff monitor."""
        return [engine.stats() for engine in self.engines.values()]

    async def shutdown(self) -> None:
        for engine in list(self.engines.values()):
            await engine.stop("shutdown")
        if self._receiver is not None:
            self._receiver.cancel()
            await asyncio.gather(self._receiver, return_exceptions=True)

    # Local sockets ------------------------------------------------------------

    async def attach(self, room: str, conn: Connection) -> RoomHub:
        """Add a local socket to the room's hub (joining the room group if first)."""
        await self._ensure_channel()
        hub = self.hubs.get(room)
        if hub is None:
            hub = self.hubs[room] = RoomHub(room, lambda: self.request_full(room))
            assert self.channel is not None
            await self.layer.group_add(group_name(room), self.channel)
        hub.add(conn)
        return hub

    async def detach(self, room: str, conn: Connection) -> None:
        hub = self.hubs.get(room)
        if hub is None:
            return
        hub.remove(conn)
        if not len(hub):
            del self.hubs[room]
            if self.channel is not None:
                await self.layer.group_discard(group_name(room), self.channel)

    def request_full(self, room: str) -> None:
        engine = self.engines.get(room)
        if engine is not None:
            engine.need_full = True

    # The room group -------------------------------------------------------------

    async def publish(self, message: dict[str, Any]) -> None:
        """One message to every process with sockets in the room (group_send)."""
        started = time.perf_counter()
        await self.layer.group_send(group_name(message["room"]), message)
        metrics.LAYER_SEND_SECONDS.observe(time.perf_counter() - started)

    async def broadcast_frame(self, room: str, data: bytes) -> None:
        """A non-snapshot frame (e.g. chat) to every socket of the room."""
        await self.publish({"type": "room.frame", "room": room, "data": data})

    async def _ensure_channel(self) -> None:
        if self.channel is None:
            self.channel = await self.layer.new_channel("hub.")
            self._receiver = asyncio.get_running_loop().create_task(
                self._receive_loop(), name="room-hub-receiver"
            )

    async def _receive_loop(self) -> None:
        assert self.channel is not None
        while True:
            message = await self.layer.receive(self.channel)
            try:
                await self._dispatch(message)
            except Exception:
                logger.exception("hub message %s failed", message.get("type"))

    async def _dispatch(self, message: dict[str, Any]) -> None:
        hub = self.hubs.get(message.get("room", ""))
        if hub is None:
            return
        kind = message["type"]
        if kind == "room.snapshot":
            await hub.on_snapshot(message)
        elif kind == "room.frame":
            await hub.on_frame(message["data"])
        elif kind == "room.kick":
            user_id = message["user_id"]
            for conn in hub.connections():
                if conn.user_id == user_id and not conn.spectator:
                    await conn.close(CLOSE_KICKED)
                    hub.remove(conn)
            engine = self.engines.get(hub.room)
            if engine is not None:
                engine.expel(user_id)
        elif kind == "room.close":
            notice = message.get("notice")
            await hub.close_all(message.get("code", CLOSE_ROOM_GONE), notice)
            self.hubs.pop(hub.room, None)
            await self.layer.group_discard(group_name(hub.room), self.channel)

    # Engine hooks (background tasks, never in the tick) -------------------------

    async def _engine_event(self, room: str, kind: str, data: dict[str, Any]) -> None:
        from lobby import rooms as lobby_rooms

        if kind == "phase":
            await lobby_rooms.aroom_changed(room, phase=data["phase"])
        elif kind == "left":
            await lobby_rooms.arelease_seat(room, data["user_id"])
        elif kind == "match_end":
            from lobby import history

            await history.arecord_match(room, data["duration_s"], data["results"])

    async def _engine_closed(self, engine: RoomEngine, reason: str) -> None:
        from lobby import rooms as lobby_rooms

        if self.engines.get(engine.name) is engine:
            del self.engines[engine.name]
        metrics.ROOMS.set(len(self.engines))
        code = CLOSE_ROOM_GONE if reason != "failed" else 1011
        notice = protocol.error(
            "room_closed" if reason != "failed" else "room_failed",
            f"room {engine.name} was {reason}",
        )
        await self.publish(
            {"type": "room.close", "room": engine.name, "code": code, "notice": notice}
        )
        try:
            await lobby_rooms.aclose_room(engine.name)
        except Exception:
            logger.exception("room %s: could not mark it closed in the lobby", engine.name)


_managers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomManager] = (
    weakref.WeakKeyDictionary()
)


def get_manager() -> RoomManager:
    """The manager of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    manager = _managers.get(loop)
    if manager is None:
        manager = _managers[loop] = RoomManager()
    return manager
