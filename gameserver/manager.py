"""The room manager: this process's rooms, hubs and channel-layer endpoint.

One manager per event loop (one per server process). It

- routes each room to the process that owns its engine (`ownership`): here,
  or another process reached through the channel layer. A room's engine is
  created where its lease is won, and cancelled by the manager, never by a
  consumer;
- keeps one `RoomHub` per room with local sockets, and this process's single
  channel in the room group while it has any;
- forwards a remote room's joins, leaves and inputs to its owner's channel;
- delivers the owner's snapshots to its own hub directly, and `group_send`s
  them once to the room group only when other processes have sockets there
  (on the in-process layer it always `group_send`s: that costs one queue
  put per room per tick);
- with Redis: renews leases, checkpoints owned rooms, takes over rooms whose
  owner died, and on SIGTERM hands every owned room over before exiting;
- connects the engine's hooks to the lobby in background tasks, off the tick.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from engine import EngineError, Match, protocol
from gameserver import metrics
from gameserver.connection import CLOSE_KICKED, CLOSE_RESTART, CLOSE_ROOM_GONE, Connection
from gameserver.hub import RoomHub
from gameserver.ownership import Ownership, RedisError, ownership_for
from gameserver.room import RoomEngine, RoomSettings, RoomStateError
from lobby import workers
from lobby.perloop import PerLoop
from lobby.receiver import receive_forever

logger = logging.getLogger(__name__)

FORWARDED_INPUT_FIELDS = ("seq", "mx", "my", "aim", "fire", "tick")


def group_name(room: str) -> str:
    return f"room.{room}"


class TooManyRooms(Exception):
    """This process already runs MAX_ROOMS_PER_PROCESS rooms."""


class Draining(Exception):
    """This process is shutting down and takes no new sockets."""


class RoomManager:
    """Rooms of this process (see module docstring)."""

    def __init__(self) -> None:
        self.config = settings.ARENA
        self.layer = get_channel_layer()
        self.ownership: Ownership = ownership_for(self.config.redis_urls)
        self.engines: dict[str, RoomEngine] = {}
        self.hubs: dict[str, RoomHub] = {}
        self.owners: dict[str, str] = {}
        """Owner channel of each room with local sockets whose engine runs elsewhere."""
        self.channel: str | None = None
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._route_lock = asyncio.Lock()
        self._ownerless: dict[str, int] = {}
        self._last_checkpoint = 0.0
        self._sockets = 0
        self._starting: asyncio.Future[None] | None = None
        self._all_closed = asyncio.Event()

    @property
    def distributed(self) -> bool:
        return self.ownership.distributed

    async def start(self) -> None:
        """Open this process's channel and start its loops; every caller waits for it once."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        self.channel = await self.layer.new_channel("hub.")
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(
            receive_forever(self.layer, self.channel, self._receive), name="hub-receiver"
        ))
        if self.distributed:
            self._tasks.append(loop.create_task(self._lease_loop(), name="room-leases"))
        else:
            await self._reset_lobby()
            workers.ensure_embedded()  # tasks run in this process without Redis
        self._install_sigterm(loop)

    # Entering and leaving rooms -------------------------------------------------

    async def enter(self, room: str, conn: Connection) -> bool:
        """Seat a socket in a room, wherever its engine runs; True if it resumes a player.

        Raises `TooManyRooms`, `Draining`, `RedisError`, or the engine's errors.
        """
        if self.draining:
            raise Draining("server is restarting")
        await self.start()
        engine = await self._route(room)
        resumed = False
        if engine is not None:
            if conn.spectator:
                engine.spectators += 1
            else:
                resumed = engine.join(conn.user_id, conn.name)
        await self._attach(room, conn)
        conn.entered = True
        self._sockets += 1
        self._all_closed.clear()
        if engine is None:
            await self._to_owner(room, self._announcement(room, conn))
        return resumed

    async def leave(self, room: str, conn: Connection) -> None:
        """A socket of this room closed."""
        if conn.entered:
            conn.entered = False
            self._sockets -= 1
            if self._sockets <= 0:
                self._all_closed.set()
        await self._detach(room, conn)
        engine = self.engines.get(room)
        if engine is not None:
            if conn.spectator:
                engine.spectators = max(0, engine.spectators - 1)
            else:
                engine.leave(conn.user_id)
        elif room in self.owners:
            kind = "room.unwatch" if conn.spectator else "room.leave"
            await self._to_owner(room, {"type": kind, "room": room, "user_id": conn.user_id})
            if room not in self.hubs:
                await self._to_owner(room, {"type": "room.unsubscribe", "room": room,
                                            "origin": self.channel})
                self.owners.pop(room, None)

    def submit(self, room: str, user_id: int, frame: protocol.InputFrame) -> bool:
        """Queue a validated input at the owner; False if the owner here calls it stale."""
        engine = self.engines.get(room)
        if engine is not None:
            return engine.submit(user_id, frame)
        if room in self.owners:
            message = {"type": "room.input", "room": room, "user_id": user_id,
                       **{name: getattr(frame, name) for name in FORWARDED_INPUT_FIELDS}}
            self._spawn(self._to_owner(room, message))
            return True
        return False

    def local_player(self, room: str, user_id: int) -> Connection | None:
        hub = self.hubs.get(room)
        return hub.player_connection(user_id) if hub is not None else None

    def _announcement(self, room: str, conn: Connection) -> dict[str, Any]:
        if conn.spectator:
            return {"type": "room.watch", "room": room, "origin": self.channel}
        return {"type": "room.join", "room": room, "user_id": conn.user_id, "name": conn.name,
                "origin": self.channel}

    async def _route(self, room: str) -> RoomEngine | None:
        """The local engine of `room`, or None when another process owns it."""
        async with self._route_lock:
            engine = self.engines.get(room)
            if engine is not None:
                return engine
            if not self.distributed:
                return self._create(room, None)
            assert self.channel is not None
            for _ in range(5):
                owner = await self.ownership.owner_of(room)
                if owner is None or owner == self.channel:
                    if owner == self.channel or await self.ownership.acquire(room, self.channel):
                        checkpoint = await self.ownership.load_checkpoint(room)
                        return self._create(room, checkpoint)
                    continue
                self.owners[room] = owner
                return None
            raise RedisError(f"could not settle the owner of room {room}")

    def _create(self, room: str, checkpoint: bytes | None) -> RoomEngine:
        if len(self.engines) >= self.config.max_rooms_per_process:
            raise TooManyRooms(f"this process already runs {len(self.engines)} rooms")
        restored = (
            Match.restore(checkpoint, record_inputs=False) if checkpoint is not None else None
        )
        engine = RoomEngine(
            room,
            RoomSettings(
                tick_rate=self.config.tick_rate,
                snapshot_rate=self.config.snapshot_rate,
                idle_seconds=self.config.room_idle_seconds,
                grace_seconds=self.config.reconnect_grace_seconds,
                max_players=self.config.max_players_per_room,
                countdown_seconds=self.config.countdown_seconds,
                match_seconds=self.config.match_seconds,
            ),
            publish=self.publish,
            on_event=lambda kind, data: self._engine_event(room, kind, data),
            on_closed=self._engine_closed,
            match=restored,
        )
        if checkpoint is not None:
            engine.adopt_seats()
            logger.info("room %s restored at tick %s", room, engine.match.tick)
        self.engines[room] = engine
        self.owners.pop(room, None)
        self._ownerless.pop(room, None)
        metrics.observe_engines(self.engines.values())
        engine.start()
        return engine

    # Local sockets ------------------------------------------------------------

    async def _attach(self, room: str, conn: Connection) -> None:
        hub = self.hubs.get(room)
        if hub is None:
            hub = self.hubs[room] = RoomHub(room, lambda: self.request_full(room))
            assert self.channel is not None
            await self._group("group_add", room)
        hub.add(conn)

    async def _detach(self, room: str, conn: Connection) -> None:
        hub = self.hubs.get(room)
        if hub is None:
            return
        hub.remove(conn)
        if not len(hub):
            del self.hubs[room]
            await self._group("group_discard", room)

    async def _group(self, action: str, room: str) -> None:
        try:
            await getattr(self.layer, action)(group_name(room), self.channel)
        except Exception:
            logger.exception("channel layer %s for room %s failed", action, room)

    def request_full(self, room: str) -> None:
        """Some socket waits for a full snapshot of `room`."""
        engine = self.engines.get(room)
        if engine is not None:
            engine.need_full = True
        elif room in self.owners:
            self._spawn(self._to_owner(room, {"type": "room.need_full", "room": room}))

    # Publishing -------------------------------------------------------------

    async def publish(self, message: dict[str, Any]) -> None:
        """An engine's snapshot message to every process with sockets in the room."""
        room = message["room"]
        if not self.distributed:
            await self._group_send(room, message)
            return
        hub = self.hubs.get(room)
        if hub is not None:
            await hub.on_snapshot(message)
        engine = self.engines.get(room)
        if engine is not None and engine.subscribers:
            await self._group_send(room, {**message, "origin": self.channel})

    async def broadcast(self, room: str, message: dict[str, Any]) -> None:
        """A room-wide message (frame, kick, close) to every process, this one included."""
        if not self.distributed:
            await self._group_send(room, message)
            return
        await self._dispatch(message)
        await self._group_send(room, {**message, "origin": self.channel})

    async def broadcast_frame(self, room: str, data: bytes) -> None:
        """A non-snapshot frame (e.g. chat) to every socket of the room."""
        await self.broadcast(room, {"type": "room.frame", "room": room, "data": data})

    async def _group_send(self, room: str, message: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            await self.layer.group_send(group_name(room), message)
        except Exception:
            logger.warning("group_send to room %s failed", room, exc_info=True)
            return
        metrics.LAYER_SEND_SECONDS.observe(time.perf_counter() - started)

    async def _to_owner(self, room: str, message: dict[str, Any]) -> None:
        owner = self.owners.get(room)
        if owner is None:
            return
        try:
            await self.layer.send(owner, message)
        except Exception:
            logger.warning("message to the owner of room %s failed", room, exc_info=True)

    # Receiving --------------------------------------------------------------

    async def _receive(self, message: dict[str, Any]) -> None:
        if message.get("origin") != self.channel:  # else our own broadcast, delivered already
            await self._dispatch(message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        room = message.get("room", "")
        engine = self.engines.get(room)
        if engine is not None and kind in _OWNER_MESSAGES:
            _OWNER_MESSAGES[kind](engine, message)
            return
        hub = self.hubs.get(room)
        if kind == "room.owner":
            await self._owner_changed(room, message["owner"])
            return
        if kind == "room.owner_gone":
            if hub is not None and not self.draining:
                await self._take_over(room)
            return
        if hub is None:
            return
        if kind == "room.snapshot":
            await hub.on_snapshot(message)
        elif kind == "room.frame":
            await hub.on_frame(message["data"])
        elif kind == "room.kick":
            for conn in hub.connections():
                if conn.user_id == message["user_id"] and not conn.spectator:
                    await conn.close(CLOSE_KICKED)
                    hub.remove(conn)
        elif kind == "room.close":
            await hub.close_all(message.get("code", CLOSE_ROOM_GONE), message.get("notice"))
            self.hubs.pop(room, None)
            self.owners.pop(room, None)
            await self._group("group_discard", room)

    # Staff actions ------------------------------------------------------------

    async def kick(self, room: str, user_id: int) -> None:
        """Close the player's sockets (4011) and take them out of the match now."""
        await self.broadcast(room, {"type": "room.kick", "room": room, "user_id": user_id})
        engine = self.engines.get(room)
        if engine is not None:
            engine.expel(user_id)
        else:
            await self._to_owner(room, {"type": "room.expel", "room": room, "user_id": user_id})

    def force_phase(self, room: str, action: str) -> None:
        """Staff: start (`start`) or end (`end`) the match of a room owned here now."""
        engine = self.engines.get(room)
        if engine is None:
            raise KeyError(f"room {room} does not run in this process")
        engine.force_phase(action)

    async def announce(self, text: str, room: str | None = None) -> None:
        """A `notice` frame to every socket of one room, or of every room here."""
        frame = protocol.encode({"t": "notice", "text": text})
        targets = [room] if room is not None else sorted(set(self.engines) | set(self.hubs))
        for name in targets:
            await self.broadcast_frame(name, frame)

    async def close_room(self, room: str, reason: str = "closed") -> None:
        """Stop a room's engine; its sockets everywhere are closed with 4004."""
        engine = self.engines.get(room)
        if engine is not None:
            await engine.stop(reason)

    def room_stats(self) -> list[dict[str, Any]]:
        """Rooms whose engine runs in this process, for the staff monitor."""
        return [engine.stats() for engine in self.engines.values()]

    # Leases, checkpoints, failover (Redis only) -----------------------------------

    async def _lease_loop(self) -> None:
        interval = self.ownership_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._lease_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("lease round failed (Redis unreachable?)", exc_info=True)

    @property
    def ownership_lease_seconds(self) -> float:
        return float(getattr(self.ownership, "lease_ms", 1500)) / 1000

    async def _lease_round(self) -> None:
        assert self.channel is not None
        for room, engine in list(self.engines.items()):
            if await self.ownership.renew(room, self.channel):
                continue
            owner = await self.ownership.owner_of(room)
            if owner is None and await self.ownership.acquire(room, self.channel):
                continue  # Redis forgot the lease (restart): ours again
            logger.warning("room %s: lost its lease to %s; stepping down", room, owner)
            await engine.halt()
            self.engines.pop(room, None)
            if owner is not None:
                await self._owner_changed(room, owner)
        now = time.monotonic()
        if now - self._last_checkpoint >= self.config.checkpoint_seconds:
            self._last_checkpoint = now
            for room, engine in list(self.engines.items()):
                await self.ownership.save_checkpoint(room, engine.match.checkpoint())
        for room in [r for r in self.hubs if r not in self.engines]:
            owner = await self.ownership.owner_of(room)
            if owner is not None:
                self._ownerless.pop(room, None)
                if owner != self.owners.get(room):
                    await self._owner_changed(room, owner)
                continue
            # Give a live owner one round to re-take a lease Redis forgot.
            seen = self._ownerless[room] = self._ownerless.get(room, 0) + 1
            if seen >= 2 or self.owners.get(room) is None:
                await self._take_over(room)

    async def _take_over(self, room: str) -> None:
        assert self.channel is not None
        async with self._route_lock:
            if room in self.engines or not await self.ownership.acquire(room, self.channel):
                return
            checkpoint = await self.ownership.load_checkpoint(room)
            engine = self._create(room, checkpoint)
        logger.info("room %s: taken over by this process", room)
        hub = self.hubs.get(room)
        for conn in hub.connections() if hub else ():
            if conn.spectator:
                engine.spectators += 1
            else:
                engine.join(conn.user_id, conn.name)
        await self._group_send(room, {"type": "room.owner", "room": room, "owner": self.channel,
                                      "origin": self.channel})

    async def _owner_changed(self, room: str, owner: str) -> None:
        """Another process owns `room` now: tell it who is connected here."""
        if owner == self.channel or room in self.engines:
            return
        hub = self.hubs.get(room)
        if hub is None:
            return
        self.owners[room] = owner
        await self._to_owner(room, {"type": "room.subscribe", "room": room,
                                    "origin": self.channel})
        for conn in hub.connections():
            await self._to_owner(room, self._announcement(room, conn))
        hub.rejoin()

    # Shutdown -------------------------------------------------------------------

    def _install_sigterm(self, loop: asyncio.AbstractEventLoop) -> None:
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return  # no server installed a handler (e.g. under tests): nothing to wrap

        def on_sigterm() -> None:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, previous)

            async def hand_over_then_exit() -> None:
                try:
                    await asyncio.wait_for(self.drain(), timeout=8)
                except Exception:
                    logger.exception("hand-over on SIGTERM failed")
                previous(signal.SIGTERM, None)

            self._spawn(hand_over_then_exit())

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)

    async def drain(self) -> None:
        """Hand every owned room over and close local sockets with 1012."""
        self.draining = True
        for room, engine in list(self.engines.items()):
            await engine.halt()
            self.engines.pop(room, None)
            if self.distributed and self.channel is not None:
                try:
                    await self.ownership.save_checkpoint(room, engine.match.checkpoint())
                    await self.ownership.release(room, self.channel)
                except RedisError:
                    logger.exception("room %s: hand-over to Redis failed", room)
                await self._group_send(room, {"type": "room.owner_gone", "room": room,
                                              "origin": self.channel})
        if not self.distributed:
            await self._reset_lobby()
        for hub in list(self.hubs.values()):
            await hub.close_all(CLOSE_RESTART, protocol.error("restarting", "server restarting"))
        if self._sockets > 0:
            # Let the closing handshakes finish before the server stops its reactor.
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout=3)
            except TimeoutError:
                logger.warning("%s sockets did not finish closing", self._sockets)
        logger.info("drained: rooms handed over, sockets closed with 1012")

    async def _reset_lobby(self) -> None:
        """One process and no engine running: the room list must not show old players."""
        from lobby import rooms as lobby_rooms

        try:
            await lobby_rooms.areset_live_state()
        except Exception:
            logger.exception("could not reset the rooms' live state")

    async def shutdown(self) -> None:
        for engine in list(self.engines.values()):
            await engine.stop("shutdown")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # Engine hooks (background tasks, never in the tick) -------------------------

    async def _engine_event(self, room: str, kind: str, data: dict[str, Any]) -> None:
        from lobby import rooms as lobby_rooms

        if kind == "phase":
            metrics.observe_engines(self.engines.values())
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
        metrics.observe_engines(self.engines.values())
        code = CLOSE_ROOM_GONE if reason != "failed" else 1011
        notice = protocol.error(
            "room_closed" if reason != "failed" else "room_failed",
            f"room {engine.name} was {reason}",
        )
        await self.broadcast(
            engine.name, {"type": "room.close", "room": engine.name, "code": code, "notice": notice}
        )
        if self.distributed and self.channel is not None:
            try:
                await self.ownership.forget(engine.name)
                await self.ownership.release(engine.name, self.channel)
            except RedisError:
                logger.warning("room %s: could not release its lease", engine.name)
        try:
            await lobby_rooms.aclose_room(engine.name)
        except Exception:
            logger.exception("room %s: could not mark it closed in the lobby", engine.name)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        _background.add(task)
        task.add_done_callback(_reap)


def _join(engine: RoomEngine, message: dict[str, Any]) -> None:
    engine.subscribers.add(message["origin"])
    try:
        engine.join(message["user_id"], message["name"])
    except (EngineError, RoomStateError):
        logger.exception("room %s: remote join of %s failed", engine.name, message["user_id"])


def _input(engine: RoomEngine, message: dict[str, Any]) -> None:
    fields = {name: message[name] for name in FORWARDED_INPUT_FIELDS}
    engine.submit(message["user_id"], protocol.InputFrame.model_construct(**fields))


def _watch(engine: RoomEngine, message: dict[str, Any]) -> None:
    engine.subscribers.add(message["origin"])
    engine.spectators += 1


def _unwatch(engine: RoomEngine, message: dict[str, Any]) -> None:
    engine.spectators = max(0, engine.spectators - 1)


_OWNER_MESSAGES: dict[str, Callable[[RoomEngine, dict[str, Any]], None]] = {
    "room.join": _join,
    "room.leave": lambda engine, m: engine.leave(m["user_id"]),
    "room.input": _input,
    "room.watch": _watch,
    "room.unwatch": _unwatch,
    "room.subscribe": lambda engine, m: engine.subscribers.add(m["origin"]),
    "room.unsubscribe": lambda engine, m: engine.subscribers.discard(m["origin"]),
    "room.need_full": lambda engine, m: setattr(engine, "need_full", True),
    "room.expel": lambda engine, m: engine.expel(m["user_id"]),
}
"""Messages a room's owner handles, sent to its channel by other processes."""

_background: set[asyncio.Task[Any]] = set()


def _reap(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("room manager background work failed", exc_info=task.exception())


_managers = PerLoop(RoomManager)


def get_manager() -> RoomManager:
    """The manager of the running event loop (one per server process)."""
    return _managers.get()
