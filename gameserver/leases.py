"""Leases, checkpoints and failover (Redis only): which process runs each room.

Each round renews this process's leases (fencing tokens: a room whose lease
was not renewed in time pauses by itself, and steps down when another process
took it), checkpoints owned rooms, takes over rooms whose owner died, frees
the seats of players whose process died, and closes rooms whose engine died
with no process left to take them (docs/scaling.md).
"""
from __future__ import annotations

import asyncio
import logging
import time

from engine import protocol
from gameserver import interprocess as msg
from gameserver import metrics
from gameserver.managerstate import ManagerState
from gameserver.net.closecodes import CloseCode
from gameserver.room import RoomEngine

logger = logging.getLogger("gameserver.manager")


CHECKPOINT_SLACK_SECONDS = 0.01
"""How much earlier than planned a lease round may start and still not checkpoint."""


def checkpoint_due(since_last: float, checkpoint_seconds: float, renew_seconds: float) -> bool:
    """Checkpoint in this lease round, `since_last` seconds after the last checkpoint?

    Yes when waiting for the next round (`renew_seconds` away) would leave more
    than `checkpoint_seconds` between two checkpoints, so a process that dies
    loses at most that much game time, plus however late its rounds ran
    (docs/scaling.md). A little slack absorbs rounds that start a few
    milliseconds early: a 1 s checkpoint on 0.5 s rounds is every other round.
    (Comparing the time since the last checkpoint with `checkpoint_seconds`
    alone put it a whole round late whenever a round came a millisecond early:
    1.5 s apart.)
    """
    slack = min(renew_seconds / 4, CHECKPOINT_SLACK_SECONDS)
    return since_last + renew_seconds > checkpoint_seconds + slack


class LeaseMixin(ManagerState):
    """The lease rounds of a distributed room manager."""

    # Leases, checkpoints, failover (Redis only) -----------------------------------

    async def _lease_loop(self) -> None:
        # A round starts LEASE_RENEW_SECONDS after the last one started (at
        # once if that one took longer), so a slow round does not push the
        # next renewal further out.
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            await asyncio.sleep(max(0.0, started + self.config.lease_renew_seconds - loop.time()))
            started = loop.time()
            try:
                await self._lease_round(started)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("lease round failed (Redis unreachable?)", exc_info=True)
            metrics.LEASE_ROUND_SECONDS.observe(loop.time() - started)

    async def _lease_round(self, started: float) -> None:
        """Renew owned leases, checkpoint, follow owner changes, sweep dead rooms.

        `started`: when the round began, on the loop's clock (a round starts
        `LEASE_RENEW_SECONDS` after the last one started; checkpoints are timed
        by it, `checkpoint_due`).

        A fixed number of Redis calls however many rooms (each a batch): on a
        busy process every await takes a loop turn, and a round of one call
        per room outlasted the lease TTL with a few dozen rooms.
        """
        assert self.channel is not None
        ttl = self.config.lease_ttl_seconds
        owned = list(self.engines.items())
        sent = time.monotonic()
        tokens = await self.ownership.renew(
            self.channel, {room: engine.lease_token for room, engine in owned})
        for room, engine in owned:
            if self.engines.get(room) is not engine:
                continue  # closed or handed over meanwhile
            token = tokens[room]
            if token:
                if token != engine.lease_token:
                    logger.info("room %s: lease re-taken with token %s", room, token)
                # Counted from before the request: never later than Redis's own expiry.
                engine.renew_lease(token, sent + ttl)
                continue
            await self._step_down(room, engine)
        await self.ownership.heartbeat(self.channel)
        now = time.monotonic()
        if checkpoint_due(started - self._last_checkpoint, self.config.checkpoint_seconds,
                          self.config.lease_renew_seconds):
            self._last_checkpoint = started
            await self._checkpoint_all()
        elsewhere = [r for r in self.hubs if r not in self.engines]
        owners = await self.ownership.owners_of(elsewhere)
        for room in elsewhere:
            if room in self.engines or room not in self.hubs:
                continue  # taken over or left meanwhile
            owner = owners[room]
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
        self.observe_rooms()
        if owner is not None:
            await self._owner_changed(room, owner)

    async def _checkpoint_all(self) -> None:
        """Write every owned room's checkpoint, fenced by our token (one Redis call).

        A room whose lease lapsed is left out (the renewal decides; never write
        state we may no longer own); a refusal means step down.
        """
        owned = {room: engine for room, engine in self.engines.items()
                 if not engine.lease_lapsed()}
        stored = await self.ownership.save_checkpoints(
            {room: (engine.lease_token, engine.checkpoint()) for room, engine in owned.items()})
        for room, engine in owned.items():
            if stored[room] or self.engines.get(room) is not engine:
                continue
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


ORPHAN_SWEEP_LIMIT = 50
