"""Messages between this process and the others: the room manager's relay.

Snapshots go to the local hub directly, and to each other process with
sockets in the room (the engine's `subscribers`) batched: the snapshots an
owner's engines make in one loop turn (its engines tick together on Redis)
leave as one `room.snapshots` message per process, each carrying the deltas
(acks included) that process's hubs fan out to their own sockets. Any
room-wide message this process sends afterwards (`broadcast`) goes after
them. A remote room's joins and leaves go to its owner's channel one by
one; its players' inputs are batched: they wait in an outbox at most
`INPUT_FLUSH_SECONDS` (or until `MAX_OUTBOX_INPUTS` are waiting), then go to
each owner as one `room.inputs` message for all its rooms, in arrival order.
Every other message to an owner first flushes the outbox (under the same
lock), so an owner sees a sender's messages in the order its sockets caused
them (an input never overtakes its player's leave). Every arriving message is validated
(gameserver/interprocess.py): a malformed one is counted in
`arena_cluster_messages_dropped_total`, logged at most every
`DROP_LOG_SECONDS` per reason, and dropped; a valid one goes to the room's
engine (owner messages) or its hub (group messages).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from engine.errors import EngineError
from gameserver import interprocess as msg
from gameserver import metrics
from gameserver.managerstate import ManagerState
from gameserver.net.closecodes import CloseCode
from gameserver.room import RoomEngine, RoomStateError

logger = logging.getLogger("gameserver.manager")


class RelayMixin(ManagerState):
    """Publishing to and receiving from other processes."""

    # Publishing -------------------------------------------------------------

    async def publish(self, message: msg.Snapshot) -> None:
        """An engine's snapshot to every process with sockets in the room.

        With Redis, nothing is published for a room whose lease may have
        lapsed (the engine checks before each tick; this covers a stall
        between the tick and its publication).
        """
        room = message.room
        if not self.distributed:
            # Every socket of the room is in this process: straight to its hub,
            # not through the in-process channel layer, which would serialise
            # the message, queue it, wake the receive loop and validate it again.
            local = self.hubs.get(room)
            if local is not None:
                await local.on_snapshot(message)
            else:
                # No socket joined through a hub: consumers that joined the
                # room's group themselves get it from the channel layer (the
                # textbook pattern load_tests/textbook.py measures); with
                # nobody in the group this is one look-up of an empty group.
                await self._group_send(room, msg.to_layer(message))
            return
        engine = self.engines.get(room)
        if engine is None or engine.lease_lapsed():
            return
        if engine.subscribers:
            self._queue_snapshot(engine, message)
        hub = self.hubs.get(room)
        if hub is not None:
            await hub.on_snapshot(message)

    def _queue_snapshot(self, engine: RoomEngine, message: msg.Snapshot) -> None:
        """Keep a snapshot for each process with sockets in its room, until this loop turn ends.

        Every engine of a process on Redis ticks on the same grid
        (`RoomSettings.aligned`), so their snapshots of one tick are made in
        one loop turn; the flush, scheduled with `call_soon`, runs after them
        and sends each process one `room.snapshots` message with them all.
        """
        for channel in engine.subscribers:
            if channel != self.channel:
                self._snapshot_outbox.setdefault(channel, []).append((engine, message))
        if self._snapshot_flush is None and self._snapshot_outbox:
            self._snapshot_flush = asyncio.get_running_loop().call_soon(self._flush_snapshots_soon)

    def _flush_snapshots_soon(self) -> None:
        self._snapshot_flush = None
        self._spawn(self._flush_snapshots())

    async def _flush_snapshots(self) -> None:
        """Send every waiting snapshot: one `room.snapshots` per process (split by size).

        A snapshot whose engine lost its lease or left this process since it
        was made is not sent, as `publish` would not have sent it then.
        """
        async with self._snapshot_lock:
            outbox, self._snapshot_outbox = self._snapshot_outbox, {}
            assert self.channel is not None
            for channel, made in outbox.items():
                batch: list[msg.RoomSnapshot] = []
                size = 0
                for engine, snapshot in made:
                    if self.engines.get(engine.name) is not engine or engine.lease_lapsed():
                        continue
                    weight = len(snapshot.delta) + len(snapshot.full or b"") + len(
                        snapshot.events or b"")
                    if batch and (size + weight > msg.MAX_BATCH_BYTES
                                  or len(batch) >= msg.MAX_BATCH_ROOMS):
                        await self._send(channel, msg.Snapshots(origin=self.channel,
                                                                snapshots=batch))
                        batch, size = [], 0
                    batch.append(snapshot)
                    size += weight
                if batch:
                    await self._send(channel, msg.Snapshots(origin=self.channel, snapshots=batch))

    async def broadcast(self, room: str, message: msg.ToGroup) -> None:
        """A room-wide message (frame, kick, close) to every process, this one included."""
        if not self.distributed:
            await self._group_send(room, msg.to_layer(message))
            return
        if self._snapshot_outbox:
            # Snapshots made before this message leave before it.
            await self._flush_snapshots()
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
        if self.distributed:  # without Redis the group is this process's own
            metrics.CLUSTER_SENT.labels(message["type"]).inc()

    async def _to_owner(self, room: str, message: msg.ToOwner) -> None:
        """One message to the room's owner, after every input waiting in the outbox."""
        async with self._send_lock:
            if self._outbox:
                await self._send_outbox()
            owner = self.owners.get(room)
            if owner is not None:
                await self._send(owner, message)

    async def _send(self, channel: str,
                    message: msg.ToOwner | msg.Inputs | msg.Snapshots) -> bool:
        """One message to another process's channel, counted; False if the layer failed."""
        try:
            await self.layer.send(channel, msg.to_layer(message))
        except Exception:
            logger.warning("%s to %s failed", message.type, channel, exc_info=True)
            return False
        metrics.CLUSTER_SENT.labels(message.type).inc()
        return True

    def forward_input(self, room: str, user_id: int, row: list[Any]) -> None:
        """Queue a player's input (its game's row) for the room's owner elsewhere.

        It leaves with the next flush: `INPUT_FLUSH_SECONDS` after the first
        input waiting, or at once when `MAX_OUTBOX_INPUTS` wait. While the
        channel layer does not take them (Redis unreachable), at most
        `msg.MAX_BATCH_INPUTS` inputs in `msg.MAX_BATCH_ROOMS` rooms wait; later
        ones are dropped, with a warning at most every `DROP_LOG_SECONDS`.
        """
        waiting = self._outbox.get(room)
        if waiting is None:
            if len(self._outbox) >= msg.MAX_BATCH_ROOMS:
                self._outbox_full()
                return
            waiting = self._outbox[room] = ([], [])
        elif self._outbox_inputs >= msg.MAX_BATCH_INPUTS:
            self._outbox_full()
            return
        waiting[0].append(user_id)
        waiting[1].append(row)
        self._outbox_inputs += 1
        if self._flushing:
            return
        if self._outbox_inputs >= MAX_OUTBOX_INPUTS or len(self._outbox) >= msg.MAX_BATCH_ROOMS:
            self._flush_now()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                INPUT_FLUSH_SECONDS, self._flush_now
            )

    def _outbox_full(self) -> None:
        now = time.monotonic()
        if now - self._drop_logged.get("outbox", -DROP_LOG_SECONDS) >= DROP_LOG_SECONDS:
            self._drop_logged["outbox"] = now
            logger.warning("inputs for other processes wait unsent (channel layer stuck?); "
                           "dropping new ones")

    def _flush_now(self) -> None:
        """Send the outbox from a task of its own (once: until it starts, inputs just wait)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._flushing = True
        self._spawn(self._flush_outbox())

    async def _flush_outbox(self) -> None:
        async with self._send_lock:
            self._flushing = False
            if self._outbox:
                await self._send_outbox()

    async def _send_outbox(self) -> None:
        """Send every waiting input: one `room.inputs` per owner (the send lock is held).

        Each room's inputs go to its owner now (not when they were queued): to
        the new one after a hand-over, to the local engine if this process took
        the room over; those of a room with no known owner any more are dropped,
        as a single input to a gone owner was.
        """
        outbox, self._outbox, self._outbox_inputs = self._outbox, {}, 0
        self._flushing = False
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        assert self.channel is not None
        batches: dict[str, list[msg.RoomInputs]] = {}
        for room, (users, rows) in outbox.items():
            engine = self.engines.get(room)
            if engine is not None:
                self._submit_rows(engine, users, rows)
                continue
            owner = self.owners.get(room)
            if owner is not None:
                batches.setdefault(owner, []).append(msg.RoomInputs(
                    room=room, token=self._fences.get(room, 0), users=users, rows=rows,
                ))
        for owner, rooms in batches.items():
            if await self._send(owner, msg.Inputs(origin=self.channel, rooms=rooms)):
                metrics.CLUSTER_INPUTS_FORWARDED.inc(sum(len(r.users) for r in rooms))

    def _take_inputs(self, message: msg.Inputs) -> None:
        """A batch of inputs from another process, for rooms we own.

        A room we do not own (any more) is skipped, as a single input was; a
        room whose sender has heard of a newer owner than our engine's lease
        is refused as `stale_owner`. Each row is validated by the room's game
        in order; one that fails is dropped as `invalid`, the rest applied.
        """
        for share in message.rooms:
            engine = self.engines.get(share.room)
            if engine is None:
                continue
            if self.distributed and share.token > engine.lease_token:
                self._drop("stale_owner",
                           f"room.inputs for {share.room} with token {share.token}")
                continue
            self._submit_rows(engine, share.users, share.rows)

    def _submit_rows(self, engine: RoomEngine, users: list[int], rows: list[Any]) -> None:
        from_row = engine.game.input_model.from_row
        for user_id, row in zip(users, rows, strict=True):
            try:
                frame = from_row(row)
            except (ValidationError, ValueError, TypeError) as exc:
                # Valid as a message, not as this room's game's input.
                self._drop("invalid", f"room.inputs for {engine.name}: {exc}"[:200])
                continue
            engine.submit(user_id, frame)

    # Receiving --------------------------------------------------------------

    async def receive(self, raw: Any) -> None:
        """One message from this process's channel. Never raises (but CancelledError).

        It is validated first (`interprocess.parse`); a malformed one is
        counted and dropped. Our own group messages (delivered locally
        already) are skipped. A failure while handling a valid one is logged,
        rate-limited like drops, and never stops the receive loop.
        """
        if self.distributed and type(raw) is dict and raw.get("origin") == self.channel:
            return  # our own group message (a snapshot: not worth validating to skip)
        try:
            message = msg.parse(raw)
        except msg.MessageError as exc:
            self._drop(exc.reason, exc.detail)
            return
        try:
            if isinstance(message, msg.Inputs):
                self._take_inputs(message)
            elif isinstance(message, msg.Snapshots):
                for snapshot in message.snapshots:
                    await self._remote_snapshot(snapshot)
            else:
                await self._dispatch(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            now = time.monotonic()
            if now - self._drop_logged.get("failed", -DROP_LOG_SECONDS) >= DROP_LOG_SECONDS:
                self._drop_logged["failed"] = now
                logger.exception("handling %s for room %s failed", message.type,
                                 getattr(message, "room", "(several)"))

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

    async def _remote_snapshot(self, message: msg.RoomSnapshot) -> None:
        """Another process's engine's snapshot, to this process's sockets in the room."""
        room = message.room
        hub = self.hubs.get(room)
        if hub is None:
            return
        if self.distributed and (
            room in self.engines or message.token < self._fences.get(room, 0)
        ):
            # Another process's engine of a room we own, or an owner older
            # than the newest we know: a stale owner's frame never reaches players.
            self._drop("stale_owner", f"snapshot of {room} with token {message.token}")
            return
        if message.token:
            self._fences[room] = message.token
        await hub.on_snapshot(message)

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

    async def _dispatch(self, message: msg.ToOwner | msg.ToGroup) -> None:
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
            await self._remote_snapshot(message)
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


DROP_LOG_SECONDS = 10.0
"""At most one warning per drop reason per this many seconds (with the count)."""
INPUT_FLUSH_SECONDS = 0.01
"""The longest a forwarded input waits in the outbox (a tick at 20 Hz is 0.05 s)."""
MAX_OUTBOX_INPUTS = 1024
"""Inputs waiting in the outbox that trigger a flush at once (below MAX_BATCH_INPUTS)."""


def group_name(room: str) -> str:
    """The channel-layer group of a room: one member per process with sockets there."""
    return f"room.{room}"


def _join(engine: RoomEngine, message: msg.Join) -> None:
    engine.subscribers.add(message.origin)
    try:
        engine.join(message.user_id, message.name)
    except (EngineError, RoomStateError):
        logger.exception("room %s: remote join of %s failed", engine.name, message.user_id)


def _watch(engine: RoomEngine, message: msg.Watch) -> None:
    engine.subscribers.add(message.origin)
    engine.spectators += 1


def _unwatch(engine: RoomEngine, message: msg.Unwatch) -> None:
    engine.spectators = max(0, engine.spectators - 1)


_OWNER_MESSAGES: dict[str, Callable[[RoomEngine, Any], None]] = {
    "room.join": _join,
    "room.leave": lambda engine, m: engine.leave(m.user_id),
    "room.watch": _watch,
    "room.unwatch": _unwatch,
    "room.subscribe": lambda engine, m: engine.subscribers.add(m.origin),
    "room.unsubscribe": lambda engine, m: engine.subscribers.discard(m.origin),
    "room.need_full": lambda engine, m: setattr(engine, "need_full", True),
    "room.expel": lambda engine, m: engine.expel(m.user_id),
}
"""Messages a room's owner handles, sent to its channel by other processes."""
