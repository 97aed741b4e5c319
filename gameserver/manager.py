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
- with Redis: renews leases (fencing tokens: a room whose lease was not
  renewed in time pauses by itself, and steps down when another process took
  it), checkpoints owned rooms, takes over rooms whose owner died, closes
  rooms whose engine died with no process left to take them, and on SIGTERM
  hands every owned room over before exiting;
- validates every message from other processes (`gameserver.interprocess`):
  a malformed one is counted in `arena_cluster_messages_dropped_total`,
  logged at most every `DROP_LOG_SECONDS` per reason, and dropped;
- connects the engine's hooks to the lobby in background tasks, off the tick.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from engine import EngineError, Match, protocol
from gameserver import interprocess as msg
from gameserver import metrics, workers
from gameserver.connection import Connection
from gameserver.hub import RoomHub
from gameserver.net.closecodes import CloseCode
from gameserver.net.perloop import PerLoop
from gameserver.net.receiver import receive_forever
from gameserver.net.tasks import TaskGroup
from gameserver.ownership import Ownership, RedisError, ownership_for
from gameserver.room import RoomEngine, RoomSettings, RoomStateError

logger = logging.getLogger(__name__)

FORWARDED_INPUT_FIELDS = ("seq", "mx", "my", "aim", "fire", "tick")
DROP_LOG_SECONDS = 10.0
"""At most one warning per drop reason per this many seconds (with the count)."""
ORPHAN_SWEEP_LIMIT = 50


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
        self._last_checkpoint = 0.0
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

    def submit(self, room: str, user_id: int, frame: protocol.InputFrame) -> bool:
        """Queue a validated input at the owner; False if the owner here calls it stale."""
        engine = self.engines.get(room)
        if engine is not None:
            return engine.submit(user_id, frame)
        if room in self.owners:
            message = msg.Input(room=room, user_id=user_id, seq=frame.seq, mx=frame.mx,
                                my=frame.my, aim=frame.aim, fire=frame.fire, tick=frame.tick)
            self._spawn(self._to_owner(room, message))
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
                if owner is None:
                    sent = time.monotonic()
                    token = await self.ownership.acquire(room, self.channel)
                    if token:
                        checkpoint = await self.ownership.load_checkpoint(room)
                        return self._create(room, checkpoint, token, sent)
                    continue
                if owner == self.channel:
                    # Our lease outlived our engine (it is closing): the newest
                    # token is ours; the next renewal re-takes a released lease.
                    sent = time.monotonic()
                    token = await self.ownership.fence(room)
                    checkpoint = await self.ownership.load_checkpoint(room)
                    return self._create(room, checkpoint, token, sent)
                self.owners[room] = owner
                return None
            raise RedisError(f"could not settle the owner of room {room}")

    def _create(
        self, room: str, checkpoint: bytes | None, token: int = 1, sent: float | None = None
    ) -> RoomEngine:
        """Start the engine of a room whose lease (`token`, asked for at `sent`) is ours."""
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

    # Publishing -------------------------------------------------------------

    async def publish(self, message: msg.Snapshot) -> None:
        """An engine's snapshot to every process with sockets in the room.

        With Redis, nothing is published for a room whose lease may have
        lapsed (the engine checks before each tick; this covers a stall
        between the tick and its publication).
        """
        room = message.room
        if not self.distributed:
            await self._group_send(room, msg.to_layer(message))
            return
        engine = self.engines.get(room)
        if engine is None or engine.lease_lapsed():
            return
        hub = self.hubs.get(room)
        if hub is not None:
            await hub.on_snapshot(message)
        if engine.subscribers and not engine.lease_lapsed():
            await self._group_send(room, {**msg.to_layer(message), "origin": self.channel})

    async def broadcast(self, room: str, message: msg.ToGroup) -> None:
        """A room-wide message (frame, kick, close) to every process, this one included."""
        if not self.distributed:
            await self._group_send(room, msg.to_layer(message))
            return
        await self._dispatch(message)
        await self._group_send(room, {**msg.to_layer(message), "origin": self.channel})

    async def broadcast_frame(self, room: str, data: bytes) -> None:
        """A non-snapshot frame (e.g. chat) to every socket of the room."""
        await self.broadcast(room, msg.Frame(room=room, data=data))

    async def _group_send(self, room: str, message: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            await self.layer.group_send(group_name(room), message)
        except Exception:
            logger.warning("group_send to room %s failed", room, exc_info=True)
            return
        metrics.LAYER_SEND_SECONDS.observe(time.perf_counter() - started)

    async def _to_owner(self, room: str, message: msg.ToOwner) -> None:
        owner = self.owners.get(room)
        if owner is None:
            return
        try:
            await self.layer.send(owner, msg.to_layer(message))
        except Exception:
            logger.warning("message to the owner of room %s failed", room, exc_info=True)

    # Receiving --------------------------------------------------------------

    async def receive(self, raw: Any) -> None:
        """One message from this process's channel. Never raises (but CancelledError).

        It is validated first (`interprocess.parse`); a malformed one is
        counted and dropped. Our own group messages (delivered locally
        already) are skipped. A failure while handling a valid one is logged,
        rate-limited like drops, and never stops the receive loop.
        """
        try:
            message = msg.parse(raw)
        except msg.MessageError as exc:
            self._drop(exc.reason, exc.detail)
            return
        if self.distributed and getattr(message, "origin", None) == self.channel:
            return
        try:
            await self._dispatch(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            now = time.monotonic()
            if now - self._drop_logged.get("failed", -DROP_LOG_SECONDS) >= DROP_LOG_SECONDS:
                self._drop_logged["failed"] = now
                logger.exception("handling %s for room %s failed", message.type, message.room)

    def _drop(self, reason: str, detail: str) -> None:
        """Count a dropped message; warn at most once per DROP_LOG_SECONDS per reason."""
        metrics.CLUSTER_DROPPED.labels(reason).inc()
        self._drops[reason] += 1
        now = time.monotonic()
        if now - self._drop_logged.get(reason, -DROP_LOG_SECONDS) >= DROP_LOG_SECONDS:
            self._drop_logged[reason] = now
            count, self._drops[reason] = self._drops[reason], 0
            logger.warning("dropped %d message(s) from other processes (%s); latest: %s",
                           count, reason, detail[:200])

    def _count_via(self, message: msg.Message) -> None:
        """Keep, per owned room, which sockets each other process holds in it."""
        if isinstance(message, msg.Join | msg.Leave):
            key = message.user_id
        elif isinstance(message, msg.Watch | msg.Unwatch):
            key = 0
        else:
            return
        counts = self._via.setdefault(message.room, {}).setdefault(message.origin, Counter())
        if isinstance(message, msg.Join | msg.Watch):
            counts[key] += 1
        elif counts[key] > 1:
            counts[key] -= 1
        else:
            counts.pop(key, None)

    async def _dispatch(self, message: msg.Message) -> None:
        room = message.room
        engine = self.engines.get(room)
        if message.type in msg.OWNER_TYPES:
            if engine is not None:
                _OWNER_MESSAGES[message.type](engine, message)
                self._count_via(message)
            return
        hub = self.hubs.get(room)
        if isinstance(message, msg.Owner):
            if message.token and message.token < self._fences.get(room, 0):
                self._drop("stale_owner", f"room.owner of {room} with token {message.token}")
                return
            if hub is not None and message.token:
                self._fences[room] = message.token
            await self._owner_changed(room, message.owner)
            return
        if isinstance(message, msg.OwnerGone):
            if hub is not None and not self.draining:
                await self._take_over(room)
            return
        if hub is None:
            return
        if isinstance(message, msg.Snapshot):
            if self.distributed and (
                engine is not None or message.token < self._fences.get(room, 0)
            ):
                # Another process's engine of a room we own, or an owner older
                # than the newest we know: a stale owner's frame never reaches players.
                self._drop("stale_owner", f"snapshot of {room} with token {message.token}")
                return
            if message.token:
                self._fences[room] = message.token
            await hub.on_snapshot(message)
        elif isinstance(message, msg.Frame):
            await hub.on_frame(message.data)
        elif isinstance(message, msg.Kick):
            for conn in hub.connections():
                if conn.user_id == message.user_id and not conn.spectator:
                    await conn.close(CloseCode.KICKED)
                    hub.remove(conn)
        elif isinstance(message, msg.Close):
            await hub.close_all(message.code, message.notice)
            self.hubs.pop(room, None)
            self.owners.pop(room, None)
            self._fences.pop(room, None)
            await self._group("group_discard", room)

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

    # Leases, checkpoints, failover (Redis only) -----------------------------------

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.lease_renew_seconds)
            try:
                await self._lease_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("lease round failed (Redis unreachable?)", exc_info=True)

    async def _lease_round(self) -> None:
        """Renew owned leases, checkpoint, follow owner changes, sweep dead rooms."""
        assert self.channel is not None
        ttl = self.config.lease_ttl_seconds
        await self.ownership.heartbeat(self.channel)
        for room, engine in list(self.engines.items()):
            sent = time.monotonic()
            token = await self.ownership.renew(room, self.channel, engine.lease_token)
            if token:
                if token != engine.lease_token:
                    logger.info("room %s: lease re-taken with token %s", room, token)
                # Counted from before the request: never later than Redis's own expiry.
                engine.renew_lease(token, sent + ttl)
                continue
            await self._step_down(room, engine)
        now = time.monotonic()
        if now - self._last_checkpoint >= self.config.checkpoint_seconds:
            self._last_checkpoint = now
            for room, engine in list(self.engines.items()):
                await self._checkpoint(room, engine)
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
        await self._release_dead_processes(now)
        if now >= self._next_sweep:
            self._next_sweep = now + ttl
            await self._sweep_orphans(now)

    async def _release_dead_processes(self, now: float) -> None:
        """Players connected through a process that died leave our rooms (grace starts).

        A process's heartbeat key expires one lease TTL after it stops; it is
        judged dead only once the key has stayed absent for another TTL (a
        Redis restart loses every key until each process's next round).
        """
        for room in [r for r in self._via if r not in self.engines]:
            del self._via[room]
        origins = sorted({o for via in self._via.values() for o in via})
        alive = await self.ownership.alive(origins)
        for origin in list(self._silent):
            if origin in alive or origin not in origins:
                del self._silent[origin]
        for origin in origins:
            if origin in alive:
                continue
            since = self._silent.setdefault(origin, now)
            if now - since < self.config.lease_ttl_seconds:
                continue
            del self._silent[origin]
            for room, via in self._via.items():
                counts = via.pop(origin, None)
                engine = self.engines.get(room)
                if not counts or engine is None:
                    continue
                logger.warning("room %s: process %s is gone; its %d socket(s) left the room",
                               room, origin, sum(counts.values()), extra={"room": room})
                engine.subscribers.discard(origin)
                for user_id, sockets in counts.items():
                    for _ in range(sockets):
                        if user_id:
                            engine.leave(user_id)
                        else:
                            engine.spectators = max(0, engine.spectators - 1)

    async def _step_down(self, room: str, engine: RoomEngine) -> None:
        """Our lease on `room` is gone for good: stop its engine, follow the new owner."""
        owner = await self.ownership.owner_of(room)
        logger.warning("room %s: lost its lease (token %s) to %s; stepping down",
                       room, engine.lease_token, owner, extra={"room": room})
        await engine.halt()
        if self.engines.get(room) is engine:
            del self.engines[room]
        metrics.observe_engines(self.engines.values())
        if owner is not None:
            await self._owner_changed(room, owner)

    async def _checkpoint(self, room: str, engine: RoomEngine) -> None:
        """Write the room's checkpoint, fenced by our token; a refusal means step down."""
        if engine.lease_lapsed():
            return  # the renewal decides; never write state we may no longer own
        if await self.ownership.save_checkpoint(room, engine.lease_token,
                                                engine.match.checkpoint()):
            return
        metrics.CHECKPOINTS_REFUSED.inc()
        logger.warning("room %s: checkpoint with token %s refused: a newer owner exists",
                       room, engine.lease_token, extra={"room": room})
        await self._step_down(room, engine)

    async def _take_over(self, room: str) -> None:
        assert self.channel is not None
        async with self._route_lock:
            if room in self.engines:
                return
            sent = time.monotonic()
            token = await self.ownership.acquire(room, self.channel)
            if not token:
                return
            checkpoint = await self.ownership.load_checkpoint(room)
            engine = self._create(room, checkpoint, token, sent)
        logger.info("room %s: taken over by this process (token %s)", room, token)
        hub = self.hubs.get(room)
        for conn in hub.connections() if hub else ():
            if conn.spectator:
                engine.spectators += 1
            else:
                engine.join(conn.user_id, conn.name)
        await self._group_send(room, {
            **msg.to_layer(msg.Owner(room=room, owner=self.channel, token=token)),
            "origin": self.channel,
        })

    async def _sweep_orphans(self, now: float) -> None:
        """Close rooms whose engine died with its process and that nobody took over.

        A room is an orphan when its engine started, was never closed, and its
        lease is absent (`ownership.orphans`). Processes with sockets in it
        take it over within two renewal rounds; so only a room still
        orphaned after a whole lease TTL plus a round is closed here: under
        its lease (so nobody starts it meanwhile), its sockets anywhere get
        4004, its seats are freed and its row closed, and its checkpoint goes.
        """
        assert self.channel is not None
        found = set(await self.ownership.orphans(ORPHAN_SWEEP_LIMIT)) - set(self.engines)
        for room in list(self._orphans_seen):
            if room not in found:
                del self._orphans_seen[room]
        grace = self.config.lease_ttl_seconds + self.config.lease_renew_seconds
        for room in sorted(found):
            first = self._orphans_seen.setdefault(room, now)
            if now - first < grace or room in self.hubs:
                continue
            token = await self.ownership.acquire(room, self.channel)
            if not token:
                continue
            del self._orphans_seen[room]
            logger.warning("room %s: its engine died with its process; closing it", room,
                           extra={"room": room})
            metrics.ORPHANS_CLOSED.inc()
            await self._group_send(room, {**msg.to_layer(msg.Close(
                room=room, code=CloseCode.ROOM_GONE,
                notice=protocol.error("room_closed", f"room {room} was lost"),
            )), "origin": self.channel})
            await self._close_in_lobby(room)
            await self.ownership.forget(room)
            await self.ownership.release(room, self.channel, token)

    async def _owner_changed(self, room: str, owner: str) -> None:
        """Another process owns `room` now: tell it who is connected here."""
        if owner == self.channel or room in self.engines:
            return
        hub = self.hubs.get(room)
        if hub is None:
            return
        self.owners[room] = owner
        await self._to_owner(room, msg.Subscribe(room=room, origin=self.channel or ""))
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
                    if not engine.lease_lapsed():
                        await self.ownership.save_checkpoint(
                            room, engine.lease_token, engine.match.checkpoint()
                        )
                    await self.ownership.release(room, self.channel, engine.lease_token)
                except RedisError:
                    logger.exception("room %s: hand-over to Redis failed", room)
                await self._group_send(room, {**msg.to_layer(msg.OwnerGone(room=room)),
                                              "origin": self.channel})
        if not self.distributed:
            await self._reset_lobby()
        for hub in list(self.hubs.values()):
            await hub.close_all(
                CloseCode.SERVICE_RESTART, protocol.error("restarting", "server restarting")
            )
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

    async def close(self, timeout: float = 10.0) -> None:
        """Stop every engine here, then let the lobby work they caused finish.

        Background work (seats released, rooms closed, results stored) runs in
        database threads: it is awaited, not cancelled, so none of it is still
        writing after the manager is gone. Work still running after `timeout`
        seconds is cancelled with a warning naming it.
        """
        for engine in list(self.engines.values()):
            await engine.stop("shutdown")
        await self._background.finish(timeout)
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
        """A room's engine stopped: close the room everywhere, unless we may not own it.

        An engine whose lease lapsed (another process may run the room now)
        closes only here: the room's sockets, checkpoint, lease and row are
        the current owner's, or the dead-room sweep's if there is none.
        """
        if self.engines.get(engine.name) is engine:
            del self.engines[engine.name]
        metrics.observe_engines(self.engines.values())
        if self.distributed and engine.lease_lapsed():
            logger.warning("room %s: stopped (%s) without a valid lease; not closing it "
                           "for other processes", engine.name, reason,
                           extra={"room": engine.name})
            return
        code = CloseCode.ROOM_GONE if reason != "failed" else 1011
        notice = protocol.error(
            "room_closed" if reason != "failed" else "room_failed",
            f"room {engine.name} was {reason}",
        )
        await self.broadcast(engine.name, msg.Close(room=engine.name, code=code, notice=notice))
        if self.distributed and self.channel is not None:
            try:
                await self.ownership.forget(engine.name)
                await self.ownership.release(engine.name, self.channel, engine.lease_token)
            except RedisError:
                logger.warning("room %s: could not release its lease", engine.name)
        await self._close_in_lobby(engine.name)

    async def _close_in_lobby(self, room: str) -> None:
        """Mark the room closed in the room list and free its seats."""
        from lobby import rooms as lobby_rooms

        try:
            await lobby_rooms.aclose_room(room)
        except Exception:
            logger.exception("room %s: could not mark it closed in the lobby", room)

    def _spawn(self, work: Any) -> None:
        self._background.spawn(work)


def _join(engine: RoomEngine, message: msg.Join) -> None:
    engine.subscribers.add(message.origin)
    try:
        engine.join(message.user_id, message.name)
    except (EngineError, RoomStateError):
        logger.exception("room %s: remote join of %s failed", engine.name, message.user_id)


def _input(engine: RoomEngine, message: msg.Input) -> None:
    # The same fields and bounds as InputFrame, validated on arrival (interprocess.parse).
    fields = {name: getattr(message, name) for name in FORWARDED_INPUT_FIELDS}
    engine.submit(message.user_id, protocol.InputFrame.model_construct(**fields))


def _watch(engine: RoomEngine, message: msg.Watch) -> None:
    engine.subscribers.add(message.origin)
    engine.spectators += 1


def _unwatch(engine: RoomEngine, message: msg.Unwatch) -> None:
    engine.spectators = max(0, engine.spectators - 1)


_OWNER_MESSAGES: dict[str, Callable[[RoomEngine, Any], None]] = {
    "room.join": _join,
    "room.leave": lambda engine, m: engine.leave(m.user_id),
    "room.input": _input,
    "room.watch": _watch,
    "room.unwatch": _unwatch,
    "room.subscribe": lambda engine, m: engine.subscribers.add(m.origin),
    "room.unsubscribe": lambda engine, m: engine.subscribers.discard(m.origin),
    "room.need_full": lambda engine, m: setattr(engine, "need_full", True),
    "room.expel": lambda engine, m: engine.expel(m.user_id),
}
"""Messages a room's owner handles, sent to its channel by other processes."""

_managers = PerLoop(RoomManager)


def get_manager() -> RoomManager:
    """The manager of the running event loop (one per server process)."""
    return _managers.get()


def existing_manager() -> RoomManager | None:
    """The running loop's manager if one was made, else None (never makes one)."""
    return _managers.peek()
