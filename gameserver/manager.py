"""The room manager: this process's rooms, hubs and channel-layer endpoint.

One manager per event loop (one per server process). This module routes each
room to the process that owns its engine (`ownership`): here, or another
process reached through the channel layer. A room's engine is created where
its lease is won, and cancelled by the manager, never by a consumer. It keeps
one `RoomHub` per room with local sockets, and this process's single channel
in the room group while it has any; and it carries the staff's actions.

The rest of its work is one module each, composed into `RoomManager`:

- gameserver/relay.py: messages to and from other processes (snapshots once
  per room group, inputs to the owner, every arrival validated);
- gameserver/leases.py: leases with fencing tokens, checkpoints, failover,
  dead processes' seats, orphaned rooms (Redis only);
- gameserver/shutdown.py: hand-over on SIGTERM;
- gameserver/lobbyhooks.py: the engines' hooks into the lobby, off the tick.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from typing import Any

from django.conf import settings

from engine import protocol
from engine.protocol import InputBase
from gameserver import interprocess as msg
from gameserver import metrics, workers
from gameserver.connection import Connection
from gameserver.hub import RoomHub
from gameserver.leases import LeaseMixin
from gameserver.lobbyhooks import LobbyHooksMixin
from gameserver.net.perloop import PerLoop
from gameserver.net.receiver import receive_forever
from gameserver.net.tasks import TaskGroup
from gameserver.ownership import Ownership, RedisError, ownership_for
from gameserver.relay import RelayMixin, group_name
from gameserver.room import RoomEngine, RoomSettings, unpack_checkpoint
from gameserver.shutdown import ShutdownMixin
from lobby import games, push

logger = logging.getLogger(__name__)

class TooManyRooms(Exception):
    """This process already runs MAX_ROOMS_PER_PROCESS rooms."""


class Draining(Exception):
    """This process is shutting down and takes no new sockets."""


class RoomManager(RelayMixin, LeaseMixin, ShutdownMixin, LobbyHooksMixin):
    """Rooms of this process (see module docstring)."""

    def __init__(self) -> None:
        self.config = settings.ARENA
        self.layer = push.channel_layer()
        self.ownership: Ownership = ownership_for(
            self.config.redis_urls, self.config.lease_ttl_seconds
        )
        self.engines: dict[str, RoomEngine] = {}
        self.hubs: dict[str, RoomHub] = {}
        self.owners: dict[str, str] = {}
        """Owner channel of each room with local sockets whose engine runs elsewhere."""
        self.channel: str | None = None
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._background = TaskGroup("room manager", logger)
        self._route_lock = asyncio.Lock()
        self._ownerless: dict[str, int] = {}
        self._last_checkpoint = -math.inf  # on the loop's clock: the first round checkpoints
        self._sockets = 0
        self._starting: asyncio.Future[None] | None = None
        self._all_closed = asyncio.Event()
        self._fences: dict[str, int] = {}
        """Newest owner token heard of, per room with local sockets it does not own."""
        self._drops: Counter[str] = Counter()
        self._drop_logged: dict[str, float] = {}
        self._orphans_seen: dict[str, float] = {}
        self._via: dict[str, dict[str, Counter[int]]] = {}
        """Per owned room, per other process: its players' socket counts (0: spectators)."""
        self._silent: dict[str, float] = {}
        """Processes with sockets in our rooms whose heartbeat is missing, since when."""
        self._next_sweep = 0.0
        self._send_lock = asyncio.Lock()
        """Held while sending to owners: the outbox, then any other message, in order."""
        self._outbox: dict[str, tuple[list[int], list[list[Any]]]] = {}
        """Inputs for rooms owned elsewhere, per room: (user ids, rows), in arrival order."""
        self._outbox_inputs = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushing = False
        """A flush task was spawned and has not taken the outbox yet."""
        self._snapshot_outbox: dict[str, list[tuple[RoomEngine, msg.Snapshot]]] = {}
        """Snapshots of this loop turn for other processes, per process channel."""
        self._snapshot_flush: asyncio.Handle | None = None
        self._snapshot_lock = asyncio.Lock()
        """Held while sending snapshot batches: they leave in the order they were made."""

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
            receive_forever(self.layer, self.channel, self.receive), name="hub-receiver"
        ))
        if self.distributed:
            try:
                await self.ownership.heartbeat(self.channel)
            except RedisError:
                logger.warning("could not announce this process in Redis (retrying)")
            self._tasks.append(loop.create_task(self._lease_loop(), name="room-leases"))
        else:
            await self._reset_lobby()
            workers.ensure_embedded()  # tasks run in this process without Redis
        self._install_sigterm(loop)

    # Entering and leaving rooms -------------------------------------------------

    async def enter(self, room: str, conn: Connection, game: str | None = None) -> bool:
        """Seat a socket in a room of `game` (its lobby row's; None: the default game),
        wherever its engine runs; True if it resumes a player.

        Raises `TooManyRooms`, `Draining`, `RedisError`, or the engine's errors.
        """
        if self.draining:
            raise Draining("server is restarting")
        await self.start()
        engine = await self._route(room, game)
        resumed = False
        if engine is not None:
            if conn.spectator:
                engine.spectators += 1
            else:
                resumed = engine.join(conn.user_id, conn.name)
        await self._attach(room, conn, game)
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
            assert self.channel is not None
            gone: msg.ToOwner = (
                msg.Unwatch(room=room, user_id=conn.user_id, origin=self.channel)
                if conn.spectator
                else msg.Leave(room=room, user_id=conn.user_id, origin=self.channel)
            )
            await self._to_owner(room, gone)
            if room not in self.hubs:
                await self._to_owner(room, msg.Unsubscribe(room=room, origin=self.channel))
                self.owners.pop(room, None)

    def submit(self, room: str, user_id: int, frame: InputBase) -> bool:
        """Queue a validated input at the owner; False if the owner here calls it stale.

        To another process the input travels as its row (`InputBase.to_row`),
        batched with the other inputs for that owner (`forward_input`); the
        owner validates it again with its game's input model.
        """
        engine = self.engines.get(room)
        if engine is not None:
            return engine.submit(user_id, frame)
        if room in self.owners:
            self.forward_input(room, user_id, frame.to_row())
            return True
        return False

    def local_player(self, room: str, user_id: int) -> Connection | None:
        hub = self.hubs.get(room)
        return hub.player_connection(user_id) if hub is not None else None

    def _announcement(self, room: str, conn: Connection) -> msg.ToOwner:
        assert self.channel is not None
        if conn.spectator:
            return msg.Watch(room=room, origin=self.channel)
        return msg.Join(room=room, user_id=conn.user_id, name=conn.name, origin=self.channel)

    async def _route(self, room: str, game: str | None = None) -> RoomEngine | None:
        """The local engine of `room`, or None when another process owns it."""
        async with self._route_lock:
            engine = self.engines.get(room)
            if engine is not None:
                return engine
            if not self.distributed:
                return self._create(room, None, game=game)
            assert self.channel is not None
            for _ in range(5):
                owner = await self.ownership.owner_of(room)
                if owner is None:
                    sent = time.monotonic()
                    token = await self.ownership.acquire(room, self.channel)
                    if token:
                        checkpoint = await self.ownership.load_checkpoint(room)
                        return self._create(room, checkpoint, token, sent, game)
                    continue
                if owner == self.channel:
                    # Our lease outlived our engine (it is closing): the newest
                    # token is ours; the next renewal re-takes a released lease.
                    sent = time.monotonic()
                    token = await self.ownership.fence(room)
                    checkpoint = await self.ownership.load_checkpoint(room)
                    return self._create(room, checkpoint, token, sent, game)
                self.owners[room] = owner
                return None
            raise RedisError(f"could not settle the owner of room {room}")

    def _create(
        self, room: str, checkpoint: bytes | None, token: int = 1, sent: float | None = None,
        game: str | None = None,
    ) -> RoomEngine:
        """Start the engine of a room whose lease (`token`, asked for at `sent`) is ours.

        The room's game: the checkpoint's (failover), else `game` (the lobby row's,
        from the socket that opened it), else the one its local sockets named, else
        the default game. `unknown_game` if this process does not offer it.
        """
        if len(self.engines) >= self.config.max_rooms_per_process:
            raise TooManyRooms(f"this process already runs {len(self.engines)} rooms")
        hub = self.hubs.get(room)
        game_id = game or (hub.game if hub is not None and hub.game else games.default_id())
        restored = None
        if checkpoint is not None:
            game_id, data = unpack_checkpoint(checkpoint, games.default_id())
            restored = games.get(game_id).restore(data, self.config.replay_recording)
        definition = games.get(game_id)
        engine = RoomEngine(
            room,
            RoomSettings(
                game=definition,
                config=games.room_config(game_id),
                idle_seconds=self.config.room_idle_seconds,
                grace_seconds=self.config.reconnect_grace_seconds,
                recording=self.config.replay_recording,
                aligned=self.distributed,
            ),
            publish=self.publish,
            on_event=lambda kind, data: self._engine_event(room, kind, data),
            on_closed=self._engine_closed,
            match=restored,
        )
        if self.distributed:
            engine.renew_lease(token, (sent or time.monotonic()) + self.config.lease_ttl_seconds)
        if checkpoint is not None:
            engine.adopt_seats()
            logger.info("room %s restored at tick %s", room, engine.match.tick)
        self.engines[room] = engine
        self.owners.pop(room, None)
        self._ownerless.pop(room, None)
        self._fences.pop(room, None)
        self._via.pop(room, None)
        self.observe_rooms()
        engine.start()
        return engine

    # Local sockets ------------------------------------------------------------

    async def _attach(self, room: str, conn: Connection, game: str | None = None) -> None:
        hub = self.hubs.get(room)
        if hub is None:
            hub = self.hubs[room] = RoomHub(room, lambda: self.request_full(room), game or "")
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
            self._fences.pop(room, None)
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
            self._spawn(self._to_owner(room, msg.NeedFull(room=room)))

    # Staff actions ------------------------------------------------------------

    async def kick(self, room: str, user_id: int) -> None:
        """Close the player's sockets (4011) and take them out of the match now."""
        await self.broadcast(room, msg.Kick(room=room, user_id=user_id))
        engine = self.engines.get(room)
        if engine is not None:
            engine.expel(user_id)
        else:
            await self._to_owner(room, msg.Expel(room=room, user_id=user_id))

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

    def observe_rooms(self) -> None:
        """Set the rooms gauges (`arena_rooms`, `arena_rooms_by_phase`) from the engines here."""
        metrics.observe_rooms([str(engine.match.phase) for engine in self.engines.values()])

    async def close(self, timeout: float = 10.0) -> None:
        """Stop every engine here, then let the lobby work they caused finish.

        Background work (seats released, rooms closed, results stored) runs in
        database threads: it is awaited, not cancelled, so none of it is still
        writing after the manager is gone. Work still running after `timeout`
        seconds is cancelled with a warning naming it.
        """
        for engine in list(self.engines.values()):
            await engine.stop("shutdown")
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._snapshot_flush is not None:
            self._snapshot_flush.cancel()
            self._snapshot_flush = None
        await self._background.finish(timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Any) -> None:
        self._background.spawn(work)


_managers = PerLoop(RoomManager)


def get_manager() -> RoomManager:
    """The manager of the running event loop (one per server process)."""
    return _managers.get()


def existing_manager() -> RoomManager | None:
    """The running loop's manager if one was made, else None (never makes one)."""
    return _managers.peek()
