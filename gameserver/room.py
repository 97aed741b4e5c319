"""The per-room engine task: the one place a room's game advances.

`RoomEngine` owns the room's match (a `engine.game.Game` of the room's game,
reached through its `GameDefinition` only: the runtime never imports a
concrete game) and a task that steps it at the game's tick rate against a
monotonic deadline (drift-free: deadline k is `start + k / tick_rate`, so a
late tick shortens the next sleep instead of shifting every later tick;
on Redis `start` is the clock's zero, so a process's rooms tick together)
(the game's config's rates, per room). Every `tick_rate / snapshot_rate` ticks it
builds the snapshot once, diffs it against the previous one, encodes the
delta once (and the full snapshot only when some socket waits for one), and
hands the bytes to `publish` as one `interprocess.Snapshot`, which the
manager delivers to the room's hubs.

Fencing (with Redis): the manager sets `lease_token` and `lease_deadline`
(monotonic seconds: the start of the last successful lease renewal plus the
lease TTL). Each tick first checks the deadline; once it has passed the room
is paused, neither stepping nor publishing, until the manager renews the
lease (`renew_lease`) or halts the room because another process took it. So
a process that was stalled or SIGSTOPped past its lease never ticks a room
another process may own now, even before it can reach Redis again.

Recording (`RoomSettings.recording`, the setting `REPLAY_RECORDING`): the
match is created with its input log on and an `engine.recording.Recorder`
sees every step; the recording it finishes at `match_end` rides on that
event's hook data (`"recording"`), which stores it off the tick.

It is created and cancelled by the `RoomManager`, never by a consumer.
Database work (phase changes for the room list, match results) runs in
background tasks the engine keeps and reaps, never in the tick.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgpack

from engine import protocol
from engine.errors import EngineError
from engine.game import AnyGame, Event, Game
from engine.protocol import ErrorCode, InputBase
from engine.recording import Recorder, Recording
from gameserver import metrics
from gameserver.interprocess import Snapshot
from gameserver.net.tasks import TaskGroup

logger = logging.getLogger(__name__)

Publish = Callable[[Snapshot], Awaitable[None]]
Hook = Callable[[str, dict[str, Any]], Awaitable[None]]


class RoomState(Enum):
    CREATED = "created"
    RUNNING = "running"
    CLOSED = "closed"


class RoomStateError(RuntimeError):
    """A call was made in a room state that does not allow it."""


@dataclass
class _Seat:
    """A player of this room: connected sockets, or the end of their grace period."""

    name: str
    connected: int = 0
    grace_until: float | None = None


@dataclass(frozen=True)
class RoomSettings:
    """A room's game, the config its match runs, and the runtime's timings."""

    game: AnyGame
    config: Any
    """The game's config for this room (lobby.games.room_config: its default with overrides)."""
    idle_seconds: float
    grace_seconds: float
    recording: bool = False
    """Record each match (engine/recording.py); the recording rides on `match_end`."""
    aligned: bool = False
    """Tick on the process-wide grid of the tick rate (deadline k is `k / tick_rate`
    since the loop clock's zero): every room of the process at that rate ticks in the
    same loop turn, so their snapshots for another process leave together (on Redis)."""

    @property
    def tick_rate(self) -> int:
        return int(self.config.tick_rate)

    @property
    def snapshot_rate(self) -> int:
        return int(self.config.snapshot_rate)


CHECKPOINT_FORMAT = 1
"""Version of the envelope `RoomEngine.checkpoint` wraps a match's checkpoint in."""


def pack_checkpoint(game_id: str, data: bytes) -> bytes:
    """A match checkpoint with the id of its game (failover restores the right game)."""
    packed: bytes = msgpack.packb(
        {"room_checkpoint": CHECKPOINT_FORMAT, "game": game_id, "match": data},
        use_bin_type=True,
    )
    return packed


def unpack_checkpoint(blob: bytes, default_game: str) -> tuple[str, bytes]:
    """`(game id, match checkpoint)`; a bare checkpoint (written before games were
    pluggable) is the default game's. `bad_checkpoint` if the envelope is malformed."""
    try:
        envelope = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except Exception:
        return default_game, blob
    if not isinstance(envelope, dict) or "room_checkpoint" not in envelope:
        return default_game, blob
    game, data = envelope.get("game"), envelope.get("match")
    if envelope["room_checkpoint"] != CHECKPOINT_FORMAT or not isinstance(game, str) or not (
        isinstance(data, bytes)
    ):
        raise EngineError(ErrorCode.BAD_CHECKPOINT, "malformed room checkpoint envelope")
    return game, data


class RoomEngine:
    """One room's match and its tick task (see module docstring)."""

    def __init__(
        self,
        name: str,
        settings: RoomSettings,
        publish: Publish,
        on_event: Hook,
        on_closed: Callable[[RoomEngine, str], Awaitable[None]],
        seed: int | None = None,
        match: Game[Any] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.game = settings.game
        self.game_id = settings.game.info.id
        self._codec = settings.game.codec
        self._playing_phase = settings.game.info.playing_phase
        self._publish = publish
        self._on_event = on_event
        self._on_closed = on_closed
        self.match: Game[Any] = match or self.game.create(
            settings.config, seed if seed is not None else secrets.randbits(32),
            settings.recording,
        )
        # One recording per played match, handed to the match_end hook (stored off the tick).
        self._recorder = Recorder(self.game, settings.config, self.match,
                                  checksum_every=settings.tick_rate) if settings.recording else None
        self._recorded: Recording | None = None
        self.state = RoomState.CREATED
        self.seats: dict[int, _Seat] = {}
        self._next_grace_end = math.inf
        """No seat's grace ends before this (monotonic): the tick looks at seats only from then."""
        self.spectators = 0
        self.subscribers: set[str] = set()
        """Other processes with sockets in this room (they get its snapshots, batched)."""
        self.need_full = True
        self._prev_full: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._background = TaskGroup(f"room {name}", logger)
        self._idle_since: float | None = time.monotonic()
        self._every = max(1, settings.tick_rate // settings.snapshot_rate)
        self._playing_since_tick: int | None = None
        self._tick_costs: deque[float] = deque(maxlen=600)
        self._unsent_events: list[Event] = []
        self._forced_events: list[Event] = []
        self.lease_token = 0
        """The fencing token of this process's lease on the room (0: no Redis)."""
        self.lease_deadline = math.inf
        """Monotonic time after which the lease may have expired: no tick from then on."""
        self._lease_renewed = asyncio.Event()

    # Lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if self.state is not RoomState.CREATED:
            raise RoomStateError(f"room {self.name} cannot start in state {self.state.value}")
        self.state = RoomState.RUNNING
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"room:{self.name}")

    def adopt_seats(self) -> None:
        """After a restore: every player of the match holds a seat for the grace period.

        Players connected anywhere re-announce themselves and resume; the
        others leave the match when their grace ends.
        """
        grace_until = time.monotonic() + self.settings.grace_seconds
        for user_id in self.match.player_ids():
            name = self.match.player_name(user_id)
            self.seats[user_id] = _Seat(name=name, grace_until=grace_until)
            self.match.reset_inputs(user_id)
        self._grace_ends(grace_until)
        self.need_full = True

    def renew_lease(self, token: int, deadline: float) -> None:
        """The lease was renewed (or re-taken with a new `token`) until `deadline`."""
        self.lease_token = token
        self.lease_deadline = deadline
        self._lease_renewed.set()

    def lease_lapsed(self) -> bool:
        """True once the lease may have expired: the room must not tick or publish."""
        return time.monotonic() >= self.lease_deadline

    async def halt(self) -> None:
        """Stop ticking without closing the room (hand-over to another process)."""
        if self.state is RoomState.CLOSED:
            return
        self.state = RoomState.CLOSED
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._background.finish()

    async def stop(self, reason: str = "stopped") -> None:
        """Close the room: stop ticking, finish background work, tell the manager."""
        if self.state is RoomState.CLOSED:
            return
        await self.halt()
        await self._on_closed(self, reason)

    # Players ------------------------------------------------------------------

    def join(self, user_id: int, name: str) -> bool:
        """A player's socket is in; True if they resume a seat they already had."""
        self._require_running()
        seat = self.seats.get(user_id)
        resumed = seat is not None
        if seat is None:
            self.match.add_player(user_id, name)
            seat = self.seats[user_id] = _Seat(name=name)
        else:
            # A new connection starts its own input sequence (docs/protocol.md).
            self.match.reset_inputs(user_id)
        seat.connected += 1
        seat.grace_until = None
        self._idle_since = None
        self.need_full = True
        return resumed

    def leave(self, user_id: int) -> None:
        """A player's socket is gone; their seat is kept for the grace period."""
        seat = self.seats.get(user_id)
        if seat is None:
            return
        seat.connected = max(0, seat.connected - 1)
        if seat.connected == 0:
            seat.grace_until = time.monotonic() + self.settings.grace_seconds
            self._grace_ends(seat.grace_until)
            self.match.reset_inputs(user_id)

    def expel(self, user_id: int) -> None:
        """Take a player out of the match now, without a grace period (staff kick)."""
        seat = self.seats.get(user_id)
        if seat is not None:
            seat.connected = 0
            seat.grace_until = time.monotonic()
            self._grace_ends(seat.grace_until)

    def _grace_ends(self, at: float) -> None:
        """A seat's grace ends at `at`: the tick must look at the seats by then."""
        self._next_grace_end = min(self._next_grace_end, at)

    def force_phase(self, action: str) -> None:
        """Staff: start the match now (`start`) or end it now (`end`), from the next tick.

        Raises the engine's `wrong_phase` error when the phase does not allow it.
        """
        self._require_running()
        if action == "start":
            self._forced_events.extend(self.match.start_now())
        elif action == "end":
            self._forced_events.extend(self.match.end_now())
        else:
            raise ValueError(f"unknown action {action!r}")

    def stats(self) -> dict[str, Any]:
        """What the staff monitor shows of this room."""
        ordered = sorted(self._tick_costs)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
        return {
            "name": self.name,
            "game": self.game_id,
            "phase": str(self.match.phase),
            "tick": self.match.tick,
            "players": self.connected_players(),
            "seats": len(self.seats),
            "spectators": self.spectators,
            "tick_rate": self.settings.tick_rate,
            "tick_p99_ms": round(p99 * 1000, 3),
        }

    def checkpoint(self) -> bytes:
        """The match's checkpoint in an envelope naming the game (`unpack_checkpoint`)."""
        return pack_checkpoint(self.game_id, self.match.checkpoint())

    def submit(self, user_id: int, frame: InputBase) -> bool:
        """Queue a validated input; False if its seq is stale (already seen)."""
        if self.state is not RoomState.RUNNING or user_id not in self.seats:
            return False
        return self.match.submit(user_id, frame)

    def connected_players(self) -> int:
        return sum(1 for seat in self.seats.values() if seat.connected)

    # The tick -----------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.settings.tick_rate
        origin, step = self._schedule(loop.time(), interval)
        try:
            while True:
                if self.lease_lapsed():
                    await self._wait_for_lease()
                    origin, step = self._schedule(loop.time(), interval)
                    continue
                deadline = origin + step * interval
                lateness = loop.time() - deadline
                started = time.perf_counter()
                message, events = self._tick()
                self._announce(events)
                if message is not None:
                    await self._publish(message)
                cost = time.perf_counter() - started
                self._tick_costs.append(cost)
                metrics.TICK_SECONDS.observe(cost)
                metrics.TICK_LATENESS.observe(max(0.0, lateness))
                if self._dispose_due():
                    break
                step += 1
                delay = origin + step * interval - loop.time()
                if delay < -5 * interval:
                    # Far behind (the process stalled): skip the missed ticks
                    # rather than running them back to back.
                    metrics.TICKS_SKIPPED.inc(int(-delay / interval))
                    origin, step = self._schedule(loop.time(), interval)
                    delay = 0.0
                await asyncio.sleep(max(0.0, delay))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room %s failed at tick %s; closing it", self.name, self.match.tick,
                             extra={"room": self.name, "tick": self.match.tick})
            await self.stop("failed")
            return
        await self.stop("idle")

    def _schedule(self, now: float, interval: float) -> tuple[float, int]:
        """(origin, step) of the tick due now: deadline k is `origin + k * interval`.

        Aligned, the origin is the clock's zero and the step the grid's last
        point at or before `now` (so it is due at once, like an unaligned
        start); otherwise the origin is `now`.
        """
        if self.settings.aligned:
            return 0.0, math.floor(now / interval)
        return now, 0

    async def _wait_for_lease(self) -> None:
        """Paused: the lease was not renewed in time. Resumes when the manager renews it."""
        metrics.LEASE_LAPSES.inc()
        logger.warning("room %s: lease not renewed in time; paused at tick %s",
                       self.name, self.match.tick, extra={"room": self.name,
                                                          "tick": self.match.tick})
        while self.lease_lapsed():
            self._lease_renewed.clear()
            await self._lease_renewed.wait()
        self.need_full = True

    def _tick(self) -> tuple[Snapshot | None, list[Event]]:
        """One fixed step; a snapshot message every `_every` ticks."""
        self._expire_graces()
        events = [*self._forced_events, *self.match.step()]
        self._forced_events.clear()
        if self._recorder is not None:
            self._recorded = self._recorder.after_step(events) or self._recorded
        # Events of ticks without a snapshot ride with the next one.
        self._unsent_events.extend(events)
        if self.match.tick % self._every and not self.need_full:
            return None, events
        full = self.match.snapshot()
        codec = self._codec
        if self._prev_full is None:
            delta_bytes = codec.encode(full)
        else:
            delta_bytes = codec.encode(codec.diff(self._prev_full, full))
        self._prev_full = full
        message = Snapshot(
            room=self.name,
            tick=self.match.tick,
            delta=delta_bytes,
            full=codec.encode(full) if self.need_full else None,
            events=protocol.events(self.match.tick, [e.to_wire() for e in self._unsent_events])
            if self._unsent_events else None,
            token=self.lease_token,
        )
        self.need_full = False
        self._unsent_events = []
        return message, events

    def _expire_graces(self) -> None:
        """Players whose grace ended leave the match.

        Every tick of every room calls this; the seats are walked only once
        the earliest grace may have ended (`_next_grace_end`, kept by
        `_grace_ends`; a player who came back in time leaves it early, which
        costs one walk), not on every tick.
        """
        now = time.monotonic()
        if now < self._next_grace_end:
            return
        self._next_grace_end = math.inf  # the walk below sets it from the graces still running
        for user_id, seat in list(self.seats.items()):
            if seat.grace_until is None:
                continue
            if now < seat.grace_until:
                self._grace_ends(seat.grace_until)
            else:
                del self.seats[user_id]
                try:
                    self.match.remove_player(user_id)
                except EngineError:
                    logger.warning("room %s: player %s already gone", self.name, user_id)
                self._background.spawn(self._on_event("left", {"user_id": user_id}))

    def _dispose_due(self) -> bool:
        busy = bool(self.seats) or self.spectators > 0
        now = time.monotonic()
        if busy:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since >= self.settings.idle_seconds

    def _announce(self, events: list[Event]) -> None:
        for event in events:
            if event.kind == "phase":
                if event.data.get("phase") == self._playing_phase:
                    self._playing_since_tick = event.tick
                self._background.spawn(self._on_event("phase", event.data))
            elif event.kind == "match_end":
                played = event.tick - (self._playing_since_tick or event.tick)
                data = {**event.data, "duration_s": played / self.settings.tick_rate,
                        "game": self.game_id, "recording": self._recorded}
                self._recorded = None
                self._background.spawn(self._on_event("match_end", data))

    def _require_running(self) -> None:
        if self.state is not RoomState.RUNNING:
            raise RoomStateError(f"room {self.name} is {self.state.value}")
