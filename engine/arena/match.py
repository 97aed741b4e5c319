"""The authoritative game: one room's state and its fixed-step rules.

:class:`Match` is a pure state machine: the runtime feeds it players and
inputs and calls :meth:`Match.step` once per tick; it answers with events and
snapshots. It has no clock and no global randomness (its ``random.Random``
lives in the state and is checkpointed), so the same seed and the same calls
give bit-identical checkpoints.

Rules (the full text is in ``docs/engine.md``):

* Movement: the input stick is an intent; velocity approaches
  ``intent * max_speed`` at ``accel`` (or standstill at ``friction``) and is
  clamped to the top speed, so a client cannot make itself faster.
  Players are circles; walls and map bounds stop them per axis.
* Firing: a projectile spawns at the shooter's centre, flies straight at
  ``projectile_speed`` for ``projectile_lifetime_s`` and stops at the first
  wall, map bound or other living player it touches (``projectile_damage``).
  Projectiles move in whole 1/8 units per tick so clients can extrapolate
  them exactly from their spawn record.
* Lag compensation: an input's ``tick`` (the snapshot the shooter saw) backdates
  the projectile by up to ``lag_comp_ms``; its missed segments are replayed at
  once against the players' positions recorded at those ticks.
* Death at 0 hp, one point per kill to the killer, respawn after
  ``respawn_s`` at a free spawn point. Pickups (health, speed boost) appear
  every ``pickup_interval_s`` during PLAYING.
* Phases: WAITING -> COUNTDOWN -> PLAYING -> ENDED -> WAITING.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import msgpack

from engine.arena import codec
from engine.arena.config import GameConfig
from engine.arena.inputs import InputFrame
from engine.errors import EngineError
from engine.game import Event
from engine.inputlog import InputLog
from engine.inputqueue import InputQueue
from engine.protocol import ErrorCode

CHECKPOINT_VERSION: Final = 1
_INF: Final = float("inf")


class Phase(StrEnum):
    """Match phases; values are the lowercase names used on the wire."""

    WAITING = "waiting"
    COUNTDOWN = "countdown"
    PLAYING = "playing"
    ENDED = "ended"


_TRANSITIONS: Final[dict[Phase, frozenset[Phase]]] = {
    Phase.WAITING: frozenset({Phase.COUNTDOWN}),
    Phase.COUNTDOWN: frozenset({Phase.PLAYING, Phase.WAITING}),
    Phase.PLAYING: frozenset({Phase.ENDED, Phase.WAITING}),
    Phase.ENDED: frozenset({Phase.WAITING}),
}

EVENT_KINDS: Final = frozenset(
    {"hit", "kill", "death", "respawn", "pickup", "phase", "match_end"}
)
"""The arena's event kinds; fields per kind (``Event.to_wire``):

* ``hit``: ``victim``, ``attacker`` (id or None), ``damage``, ``hp`` (left)
* ``death``: ``player``, ``by`` (id or None)
* ``kill``: ``killer``, ``victim``
* ``respawn``: ``player``, ``x``, ``y`` (wire units, 1/8)
* ``pickup``: ``player``, ``pickup_id``, ``item`` (``health``/``speed``)
* ``phase``: ``phase``, ``ends`` (tick, 0 = open-ended)
* ``match_end``: ``results`` (as :meth:`Match.results`)
"""


@dataclass(frozen=True)
class PlayerState:
    """A read-only copy of one player's state (world units, radians)."""

    player_id: int
    name: str
    x: float
    y: float
    vx: float
    vy: float
    aim: float
    hp: int
    alive: bool
    kills: int
    deaths: int
    score: int
    boosted: bool
    last_seq: int


@dataclass(slots=True)
class _Player:
    pid: int
    name: str
    inputs: InputQueue[InputFrame]
    x: float = 0.0
    y: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    aim: float = 0.0
    mx: float = 0.0
    my: float = 0.0
    hp: int = 0
    alive: bool = False
    respawn_tick: int = 0
    kills: int = 0
    deaths: int = 0
    score: int = 0
    next_fire_tick: int = 0
    boost_until: int = 0


@dataclass(slots=True)
class _Projectile:
    pid: int
    owner: int
    x0: int  # wire units (1/8) at tick t0
    y0: int
    vx: int  # wire units per tick
    vy: int
    t0: int
    expire: int  # tick at which it disappears
    wall_t: float  # ticks after t0 at which it meets a wall or the map bound


@dataclass(slots=True)
class _Pickup:
    pid: int
    x: float
    y: float
    kind: int  # index into codec.PICKUP_KINDS
    spot: int


def _seg_circle(
    x0: float, y0: float, dx: float, dy: float, cx: float, cy: float, r: float
) -> float:
    """Earliest s in [0, 1] where p0 + s*d is within r of c, or +inf."""
    fx = x0 - cx
    fy = y0 - cy
    c = fx * fx + fy * fy - r * r
    if c <= 0.0:
        return 0.0
    b = fx * dx + fy * dy
    if b >= 0.0:
        return _INF
    a = dx * dx + dy * dy
    disc = b * b - a * c
    if disc < 0.0:
        return _INF
    s = (-b - math.sqrt(disc)) / a
    return s if s <= 1.0 else _INF


def _seg_box(
    x0: float, y0: float, dx: float, dy: float, lox: float, loy: float, hix: float, hiy: float
) -> float:
    """Earliest s in [0, 1] where p0 + s*d is inside the box, or +inf (slab test)."""
    tmin = 0.0
    tmax = 1.0
    for p, d, lo, hi in ((x0, dx, lox, hix), (y0, dy, loy, hiy)):
        if d == 0.0:
            if p < lo or p > hi:
                return _INF
            continue
        t1 = (lo - p) / d
        t2 = (hi - p) / d
        if t1 > t2:
            t1, t2 = t2, t1
        tmin = max(tmin, t1)
        tmax = min(tmax, t2)
        if tmin > tmax:
            return _INF
    return tmin


class Match:
    """One room's authoritative game state.

    All public methods are deterministic functions of the constructor
    arguments and the sequence of calls. Rule violations by the caller raise
    :class:`EngineError` with a code from :class:`engine.protocol.ErrorCode`.
    """

    def __init__(self, config: GameConfig, seed: int, record_inputs: bool = True) -> None:
        self.config: Final = config
        self.seed: Final = seed
        self.record_inputs = record_inputs
        """Keep `input_log` (replays, tests): columnar, and cleared by the runtime's
        recorder when each match begins (engine/recording.py)."""
        self.tick = 0
        """Ticks stepped so far; the snapshot of this state carries this tick."""
        self.phase = Phase.WAITING
        self.phase_ends_tick = 0
        """Tick at which the current phase ends by time (0: open-ended)."""
        self.match_started_tick = 0
        """Tick at which the current (or last) PLAYING phase began."""
        self.input_log = InputLog(InputFrame)
        """Every accepted outside call; not part of the checkpoint."""
        self._config_doc = config.to_dict()
        """The config as the checkpoint writes it (the config is frozen: made once)."""
        self._rng = random.Random(seed)
        self._players: dict[int, _Player] = {}
        self._projectiles: dict[int, _Projectile] = {}
        self._pickups: dict[int, _Pickup] = {}
        self._next_entity_id = 1
        self._next_pickup_tick = 0
        self._results: list[dict[str, Any]] = []
        # history[i] = (tick, [(pid, x, y)] of living players after that tick, by id)
        self._history: deque[tuple[int, list[tuple[int, float, float]]]] = deque()
        self._derive()
        self._record_history()

    def _derive(self) -> None:
        """Cache tick-based constants (not state: recomputed from the config)."""
        c = self.config
        dt = 1.0 / c.tick_rate
        self._dt = dt
        self._accel_step = c.accel * dt
        self._friction_step = c.friction * dt
        self._cooldown = c.ticks(c.fire_cooldown_s)
        self._lifetime = max(1, c.ticks(c.projectile_lifetime_s))
        self._respawn = c.ticks(c.respawn_s)
        self._lag_ticks = c.lag_comp_ticks
        self._hit_r = c.player_radius + c.projectile_radius
        r = c.player_radius
        self._move_walls = tuple(
            (wx - r, wy - r, wx + ww + r, wy + wh + r) for wx, wy, ww, wh in c.walls
        )
        pr = c.projectile_radius
        self._shot_walls = tuple(
            (wx - pr, wy - pr, wx + ww + pr, wy + wh + pr) for wx, wy, ww, wh in c.walls
        )
        self._walls_wire: list[list[int]] = [list(w) for w in c.walls]

    # -- queries -----------------------------------------------------------

    def player_ids(self) -> list[int]:
        """Ids of the players in the room, ascending."""
        return sorted(self._players)

    def player_name(self, player_id: int) -> str:
        """The name a player joined with; ``EngineError(not_in_room)`` if unknown."""
        return self._get(player_id).name

    def acks(self) -> dict[int, int]:
        """Player id -> last applied input seq (-1: none yet), ascending ids."""
        return {pid: self._players[pid].inputs.applied for pid in sorted(self._players)}

    def player_state(self, player_id: int) -> PlayerState:
        """A copy of one player's state; ``EngineError(not_in_room)`` if unknown."""
        p = self._get(player_id)
        return PlayerState(
            player_id=p.pid,
            name=p.name,
            x=p.x,
            y=p.y,
            vx=p.vx,
            vy=p.vy,
            aim=p.aim,
            hp=p.hp,
            alive=p.alive,
            kills=p.kills,
            deaths=p.deaths,
            score=p.score,
            boosted=self.tick < p.boost_until,
            last_seq=p.inputs.applied,
        )

    def projectile_count(self) -> int:
        """Projectiles currently in flight."""
        return len(self._projectiles)

    def pickups(self) -> list[tuple[int, float, float, str]]:
        """``(id, x, y, kind)`` of every pickup on the map, by id."""
        return [
            (k.pid, k.x, k.y, codec.PICKUP_KINDS[k.kind])
            for _, k in sorted(self._pickups.items())
        ]

    def results(self) -> list[dict[str, Any]]:
        """Final standings of the last ended match, sorted by place; [] if none yet.

        Each row: ``player_id``, ``name``, ``kills``, ``deaths``, ``score``,
        ``place`` (1-based; order: score desc, deaths asc, player_id asc).
        """
        return [dict(row) for row in self._results]

    def _get(self, player_id: int) -> _Player:
        p = self._players.get(player_id)
        if p is None:
            raise EngineError(ErrorCode.NOT_IN_ROOM, f"player {player_id} is not in the room")
        return p

    # -- outside calls ---------------------------------------------------------

    def add_player(self, player_id: int, name: str) -> None:
        """Add a player, alive at a free spawn point, in any phase (mid-match too).

        Raises ``EngineError`` ``already_joined`` or ``room_full``.
        """
        if player_id in self._players:
            raise EngineError(ErrorCode.ALREADY_JOINED, f"player {player_id} already joined")
        if len(self._players) >= self.config.max_players:
            raise EngineError(
                ErrorCode.ROOM_FULL, f"room is full ({self.config.max_players} players)"
            )
        p = _Player(pid=player_id, name=name,
                    inputs=InputQueue(self.config.input_queue_max))
        self._players[player_id] = p
        self._spawn(p)
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "join", name)

    def remove_player(self, player_id: int) -> None:
        """Remove a player; their projectiles keep flying. ``not_in_room`` if unknown."""
        self._get(player_id)
        del self._players[player_id]
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "leave")

    def submit(self, player_id: int, inp: InputFrame) -> bool:
        """Queue an input for the next steps.

        Returns False (and changes nothing) when ``inp.seq`` is not above every
        seq already queued or applied for this player. The queue holds at most
        ``input_queue_max`` inputs: when full, the oldest is dropped (its seq
        is never acknowledged). ``not_in_room`` if the player is unknown.
        """
        if not self._get(player_id).inputs.offer(inp):
            return False
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "input", "", inp)
        return True

    def reset_inputs(self, player_id: int) -> None:
        """A player's connection ended or a new one began: forget its input stream.

        Drops queued inputs, stops the player's intent (a disconnected player
        stands still; momentum decays as usual), and restarts the sequence so
        the next connection's ``seq`` numbering is accepted from 0; ``acks``
        shows -1 until its first input is applied. ``not_in_room`` if unknown.
        """
        p = self._get(player_id)
        p.inputs.reset()
        p.mx = p.my = 0.0
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "reset")

    def start_now(self) -> list[Event]:
        """Admin: skip WAITING/COUNTDOWN and start PLAYING now (needs >= 1 player).

        ``wrong_phase`` (naming the phase) in PLAYING or ENDED, or in an empty room.
        """
        if self.phase not in (Phase.WAITING, Phase.COUNTDOWN) or not self._players:
            raise EngineError(
                ErrorCode.WRONG_PHASE,
                f"cannot start a match in phase {self.phase.value} "
                f"with {len(self._players)} players",
            )
        events: list[Event] = []
        if self.record_inputs:
            self.input_log.add(self.tick, 0, "start")
        if self.phase is Phase.WAITING:
            self._set_phase(Phase.COUNTDOWN, self.tick, self.tick, events)
        self._start_match(self.tick, events)
        return events

    def end_now(self) -> list[Event]:
        """Admin: end the current match now; ``wrong_phase`` unless PLAYING."""
        if self.phase is not Phase.PLAYING:
            raise EngineError(
                ErrorCode.WRONG_PHASE, f"cannot end a match in phase {self.phase.value}"
            )
        events: list[Event] = []
        if self.record_inputs:
            self.input_log.add(self.tick, 0, "end")
        self._end_match(self.tick, events)
        return events

    # -- the step ------------------------------------------------------------------

    def step(self) -> list[Event]:
        """Advance one fixed step of ``1 / tick_rate`` s and return its events.

        Order: inputs (players by id; up to ``max_inputs_per_tick`` each, in seq
        order; the last one's stick holds; each ``fire`` may shoot), movement,
        projectiles, respawns, pickups, then phase changes.
        """
        t = self.tick + 1
        events: list[Event] = []
        playing = self.phase is Phase.PLAYING
        max_inputs = self.config.max_inputs_per_tick
        for pid in sorted(self._players):
            p = self._players[pid]
            for inp in p.inputs.take(max_inputs):
                p.mx = inp.mx
                p.my = inp.my
                p.aim = inp.aim
                if inp.fire and playing and p.alive and self.tick >= p.next_fire_tick:
                    self._fire(p, inp.tick, t, events)
        if self.phase is not Phase.ENDED:
            self._move_players(t)
        if self._projectiles:
            self._move_projectiles(t, events)
        if self.phase is not Phase.ENDED:
            for pid in sorted(self._players):
                p = self._players[pid]
                if not p.alive and p.respawn_tick <= t:
                    self._spawn(p)
                    events.append(
                        Event(
                            "respawn",
                            t,
                            {"player": pid, "x": codec.q_pos(p.x), "y": codec.q_pos(p.y)},
                        )
                    )
        if playing:
            self._update_pickups(t, events)
        self.tick = t
        self._record_history()
        self._advance_phase(t, events)
        return events

    def _fire(self, p: _Player, seen_tick: int | None, t: int, events: list[Event]) -> None:
        """Spawn a projectile; with ``seen_tick``, backdate it and replay missed segments."""
        c = self.config
        p.next_fire_tick = self.tick + self._cooldown
        lag = 0
        if seen_tick is not None and seen_tick <= self.tick:
            # Never trust the client further back than the history we keep.
            lag = min(self.tick - seen_tick, self._lag_ticks)
        per_tick = c.projectile_speed * self._dt * codec.POS_SCALE
        t0 = self.tick - lag
        proj = _Projectile(
            pid=self._next_entity_id,
            owner=p.pid,
            x0=codec.q_pos(p.x),
            y0=codec.q_pos(p.y),
            vx=round(math.cos(p.aim) * per_tick),
            vy=round(math.sin(p.aim) * per_tick),
            t0=t0,
            expire=t0 + self._lifetime,
            wall_t=0.0,
        )
        self._next_entity_id += 1
        proj.wall_t = self._wall_time(proj)
        history = {tick: pos for tick, pos in self._history}
        for k in range(lag):
            at = t0 + k + 1
            if at >= self.tick:
                targets = self._live_targets()
            else:
                # Only players alive both then and now can be hit in the past.
                players = self._players
                targets = [
                    row
                    for row in history.get(at, ())
                    if row[0] in players and players[row[0]].alive
                ]
            if self._segment(proj, k, targets, t, events) or t0 + k + 1 >= proj.expire:
                return
        self._projectiles[proj.pid] = proj

    def _wall_time(self, proj: _Projectile) -> float:
        """Ticks after t0 at which the straight path meets a wall or leaves the map."""
        s = codec.POS_SCALE
        x0 = proj.x0 / s
        y0 = proj.y0 / s
        dx = proj.vx / s * self._lifetime
        dy = proj.vy / s * self._lifetime
        c = self.config
        best = _INF
        for lox, loy, hix, hiy in self._shot_walls:
            best = min(best, _seg_box(x0, y0, dx, dy, lox, loy, hix, hiy))
        # Leaving the map counts as meeting a wall at the exit point.
        for p, d, hi in ((x0, dx, c.map_width), (y0, dy, c.map_height)):
            if d > 0.0:
                best = min(best, (hi - p) / d)
            elif d < 0.0:
                best = min(best, -p / d)
        return max(0.0, best) * self._lifetime

    def _segment(
        self,
        proj: _Projectile,
        k: int,
        targets: list[tuple[int, float, float]],
        t: int,
        events: list[Event],
    ) -> bool:
        """Test segment ``k`` (tick t0+k -> t0+k+1) of ``proj``; True if it is spent.

        ``targets`` are ``(player_id, x, y)`` sorted by id; the nearest hit along
        the segment wins (ties: lowest id), unless a wall comes first.
        """
        s = codec.POS_SCALE
        x0 = (proj.x0 + proj.vx * k) / s
        y0 = (proj.y0 + proj.vy * k) / s
        dx = proj.vx / s
        dy = proj.vy / s
        limit = proj.wall_t - k  # segment fraction at which the wall stops it
        r = self._hit_r
        if dx >= 0.0:
            lox, hix = x0 - r, x0 + dx + r
        else:
            lox, hix = x0 + dx - r, x0 + r
        if dy >= 0.0:
            loy, hiy = y0 - r, y0 + dy + r
        else:
            loy, hiy = y0 + dy - r, y0 + r
        best = _INF
        victim = -1
        owner = proj.owner
        for pid, cx, cy in targets:
            # Cheap bounding-box reject first: most targets are far away.
            if cx < lox or cx > hix or cy < loy or cy > hiy or pid == owner:
                continue
            hit = _seg_circle(x0, y0, dx, dy, cx, cy, r)
            if hit < best and self._players[pid].alive:
                best = hit
                victim = pid
        if victim >= 0 and best <= limit:
            self._damage(self._players[victim], owner, t, events)
            return True
        return limit <= 1.0

    def _damage(self, victim: _Player, attacker: int, t: int, events: list[Event]) -> None:
        dmg = self.config.projectile_damage
        victim.hp = max(0, victim.hp - dmg)
        events.append(
            Event(
                "hit",
                t,
                {"victim": victim.pid, "attacker": attacker, "damage": dmg, "hp": victim.hp},
            )
        )
        if victim.hp > 0:
            return
        victim.alive = False
        victim.deaths += 1
        victim.vx = victim.vy = 0.0
        victim.boost_until = 0
        victim.respawn_tick = t + self._respawn
        events.append(Event("death", t, {"player": victim.pid, "by": attacker}))
        killer = self._players.get(attacker)
        if killer is not None and killer is not victim:
            killer.kills += 1
            killer.score += 1
            events.append(Event("kill", t, {"killer": attacker, "victim": victim.pid}))

    def _move_players(self, t: int) -> None:
        c = self.config
        r = c.player_radius
        max_x = c.map_width - r
        max_y = c.map_height - r
        dt = self._dt
        walls = self._move_walls
        for pid in sorted(self._players):
            p = self._players[pid]
            if not p.alive:
                continue
            top = c.max_speed * (c.speed_boost_mult if self.tick < p.boost_until else 1.0)
            ix = p.mx
            iy = p.my
            mag = math.hypot(ix, iy)
            if mag > 1.0:
                ix /= mag
                iy /= mag
            tx = ix * top
            ty = iy * top
            rate = self._accel_step if mag > 0.0 else self._friction_step
            ex = tx - p.vx
            ey = ty - p.vy
            gap = math.hypot(ex, ey)
            if gap <= rate:
                vx, vy = tx, ty
            else:
                vx = p.vx + ex / gap * rate
                vy = p.vy + ey / gap * rate
            speed = math.hypot(vx, vy)
            if speed > top:
                # The hard cap: whatever the inputs, nobody outruns max_speed.
                vx = vx / speed * top
                vy = vy / speed * top
            # Axis-separated motion against walls inflated by the radius.
            x = p.x + vx * dt
            y = p.y
            for lox, loy, hix, hiy in walls:
                if lox < x < hix and loy < y < hiy:
                    x = lox if vx > 0.0 else hix
                    vx = 0.0
            if x < r:
                x, vx = r, 0.0
            elif x > max_x:
                x, vx = max_x, 0.0
            y = p.y + vy * dt
            for lox, loy, hix, hiy in walls:
                if lox < x < hix and loy < y < hiy:
                    y = loy if vy > 0.0 else hiy
                    vy = 0.0
            if y < r:
                y, vy = r, 0.0
            elif y > max_y:
                y, vy = max_y, 0.0
            p.x, p.y, p.vx, p.vy = x, y, vx, vy

    def _move_projectiles(self, t: int, events: list[Event]) -> None:
        targets = self._live_targets()
        spent: list[int] = []
        for pid in sorted(self._projectiles):
            proj = self._projectiles[pid]
            if self._segment(proj, self.tick - proj.t0, targets, t, events) or t >= proj.expire:
                spent.append(pid)
                continue
        for pid in spent:
            del self._projectiles[pid]

    def _live_targets(self) -> list[tuple[int, float, float]]:
        return [(pid, p.x, p.y) for pid, p in sorted(self._players.items()) if p.alive]

    def _spawn(self, p: _Player) -> None:
        """Bring ``p`` to life at a free spawn point (random among free ones)."""
        c = self.config
        living = [(q.x, q.y) for _, q in sorted(self._players.items()) if q.alive and q is not p]
        clear = c.spawn_clear_radius
        free = [
            i
            for i, (sx, sy) in enumerate(c.spawn_points)
            if all(math.hypot(sx - x, sy - y) >= clear for x, y in living)
        ]
        if free:
            idx = free[self._rng.randrange(len(free))]
        else:
            # Nowhere is clear: take the spot farthest from everybody.
            def crowd(i: int) -> float:
                sx, sy = c.spawn_points[i]
                return -min(math.hypot(sx - x, sy - y) for x, y in living)

            idx = min(range(len(c.spawn_points)), key=lambda i: (crowd(i), i))
        sx, sy = c.spawn_points[idx]
        p.x, p.y = float(sx), float(sy)
        p.vx = p.vy = 0.0
        p.hp = c.max_hp
        p.alive = True
        p.boost_until = 0

    def _update_pickups(self, t: int, events: list[Event]) -> None:
        c = self.config
        if t >= self._next_pickup_tick and c.pickup_spots:
            self._next_pickup_tick = t + max(1, c.ticks(c.pickup_interval_s))
            taken = {k.spot for k in self._pickups.values()}
            free = [i for i in range(len(c.pickup_spots)) if i not in taken]
            if free:
                spot = free[self._rng.randrange(len(free))]
                name = c.pickup_kinds[self._rng.randrange(len(c.pickup_kinds))]
                kind = codec.PICKUP_KINDS.index(name)
                sx, sy = c.pickup_spots[spot]
                self._pickups[self._next_entity_id] = _Pickup(
                    self._next_entity_id, float(sx), float(sy), kind, spot
                )
                self._next_entity_id += 1
        reach = c.player_radius + c.pickup_radius
        for kid in sorted(self._pickups):
            k = self._pickups[kid]
            best: tuple[float, int] | None = None
            for pid in sorted(self._players):
                p = self._players[pid]
                if not p.alive or (k.kind == 0 and p.hp >= c.max_hp):
                    continue  # a health pack stays for someone who needs it
                d = math.hypot(p.x - k.x, p.y - k.y)
                if d <= reach and (best is None or d < best[0]):
                    best = (d, pid)
            if best is None:
                continue
            p = self._players[best[1]]
            if k.kind == 0:
                p.hp = min(c.max_hp, p.hp + c.health_amount)
            else:
                p.boost_until = t + c.ticks(c.speed_boost_s)
            del self._pickups[kid]
            events.append(
                Event(
                    "pickup",
                    t,
                    {"player": p.pid, "pickup_id": kid, "item": codec.PICKUP_KINDS[k.kind]},
                )
            )

    def _record_history(self) -> None:
        self._history.append((self.tick, self._live_targets()))
        while len(self._history) > self._lag_ticks + 1:
            self._history.popleft()

    # -- phases ------------------------------------------------------------------------

    def _set_phase(self, to: Phase, t: int, ends: int, events: list[Event]) -> None:
        if to not in _TRANSITIONS[self.phase]:
            raise EngineError(
                ErrorCode.WRONG_PHASE, f"no transition from phase {self.phase.value} to {to.value}"
            )
        self.phase = to
        self.phase_ends_tick = ends
        events.append(Event("phase", t, {"phase": to.value, "ends": ends}))

    def _advance_phase(self, t: int, events: list[Event]) -> None:
        c = self.config
        n = len(self._players)
        # A zero-length phase may chain into the next one within the same tick.
        for _ in range(4):
            before = self.phase
            if self.phase is Phase.WAITING:
                if n >= c.min_players:
                    self._set_phase(Phase.COUNTDOWN, t, t + c.ticks(c.countdown_s), events)
            elif self.phase is Phase.COUNTDOWN:
                if n < c.min_players:
                    self._set_phase(Phase.WAITING, t, 0, events)
                elif t >= self.phase_ends_tick:
                    self._start_match(t, events)
            elif self.phase is Phase.PLAYING:
                if n == 0:
                    self._projectiles.clear()
                    self._pickups.clear()
                    self._set_phase(Phase.WAITING, t, 0, events)
                elif t >= self.phase_ends_tick or any(
                    p.score >= c.score_limit for p in self._players.values()
                ):
                    self._end_match(t, events)
            elif t >= self.phase_ends_tick:
                self._reset_scores()
                for pid in sorted(self._players):
                    p = self._players[pid]
                    if not p.alive:
                        self._spawn(p)
                    p.hp = c.max_hp
                self._set_phase(Phase.WAITING, t, 0, events)
            if self.phase is before:
                return

    def _reset_scores(self) -> None:
        for p in self._players.values():
            p.kills = p.deaths = p.score = 0

    def _start_match(self, t: int, events: list[Event]) -> None:
        c = self.config
        self._reset_scores()
        self._projectiles.clear()
        self._pickups.clear()
        self._next_pickup_tick = t + max(1, c.ticks(c.pickup_interval_s))
        for pid in sorted(self._players):
            p = self._players[pid]
            p.alive = False
        for pid in sorted(self._players):
            p = self._players[pid]
            self._spawn(p)
            p.next_fire_tick = 0
        self.match_started_tick = t
        self._set_phase(Phase.PLAYING, t, t + c.ticks(c.match_s), events)

    def _end_match(self, t: int, events: list[Event]) -> None:
        c = self.config
        ranked = sorted(self._players.values(), key=lambda p: (-p.score, p.deaths, p.pid))
        self._results = [
            {
                "player_id": p.pid,
                "name": p.name,
                "kills": p.kills,
                "deaths": p.deaths,
                "score": p.score,
                "place": i + 1,
            }
            for i, p in enumerate(ranked)
        ]
        self._projectiles.clear()
        self._pickups.clear()
        self._set_phase(Phase.ENDED, t, t + c.ticks(c.ended_s), events)
        events.append(Event("match_end", t, {"results": self.results()}))

    # -- snapshots and checkpoints -------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The full snapshot in wire form (see ``docs/protocol.md`` "Snapshots")."""
        q = codec.q_pos
        players: dict[int, list[Any]] = {}
        acks: dict[int, int] = {}
        tick = self.tick
        for pid in sorted(self._players):
            p = self._players[pid]
            acks[pid] = p.inputs.applied
            flags = (codec.FLAG_ALIVE if p.alive else 0) | (
                codec.FLAG_BOOST if tick < p.boost_until else 0
            )
            players[pid] = [
                q(p.x), q(p.y), codec.q_aim(p.aim), p.hp, flags,
                p.kills, p.deaths, p.score, p.name,
            ]
        return {
            "t": "snap",
            "tick": tick,
            "acks": acks,
            "full": True,
            "phase": self.phase.value,
            "phase_ends": self.phase_ends_tick,
            "map": [
                self.config.map_width,
                self.config.map_height,
                [list(w) for w in self._walls_wire],
            ],
            "players": players,
            "projectiles": {
                j.pid: [j.x0, j.y0, j.vx, j.vy, j.t0, j.owner]
                for _, j in sorted(self._projectiles.items())
            },
            "pickups": {
                k.pid: [q(k.x), q(k.y), k.kind] for _, k in sorted(self._pickups.items())
            },
        }

    def checkpoint(self) -> bytes:
        """The exact state (config, seed, RNG, queues, seqs, history...) as bytes.

        ``Match.restore(m.checkpoint())`` continues bit-identically. The input
        log is not included.
        """
        rng_state: tuple[Any, ...] = self._rng.getstate()
        rng_version, rng_internal, rng_gauss = rng_state
        state = {
            "v": CHECKPOINT_VERSION,
            "config": self._config_doc,
            "seed": self.seed,
            "tick": self.tick,
            "phase": self.phase.value,
            "phase_ends": self.phase_ends_tick,
            "started": self.match_started_tick,
            "rng": [rng_version, list(rng_internal), rng_gauss],
            "next_id": self._next_entity_id,
            "next_pickup": self._next_pickup_tick,
            "results": self._results,
            "players": [
                [
                    p.pid, p.name, p.x, p.y, p.vx, p.vy, p.aim, p.mx, p.my, p.hp, p.alive,
                    p.respawn_tick, p.kills, p.deaths, p.score, p.next_fire_tick,
                    p.boost_until, *p.inputs.state(),
                ]
                for _, p in sorted(self._players.items())
            ],
            "projectiles": [
                [j.pid, j.owner, j.x0, j.y0, j.vx, j.vy, j.t0, j.expire, j.wall_t]
                for _, j in sorted(self._projectiles.items())
            ],
            "pickups": [
                [k.pid, k.x, k.y, k.kind, k.spot] for _, k in sorted(self._pickups.items())
            ],
            "history": [
                [tick, [list(row) for row in rows]] for tick, rows in self._history
            ],
        }
        packed: bytes = msgpack.packb(state, use_bin_type=True)
        return packed

    @classmethod
    def restore(cls, data: bytes, record_inputs: bool = True) -> Match:
        """Rebuild a match from :meth:`checkpoint` bytes; ``bad_checkpoint`` if unreadable."""
        try:
            s = msgpack.unpackb(data, raw=False, strict_map_key=False)
            if s.get("game", "arena") != "arena":  # other games name themselves
                raise ValueError(f"a {s['game']!r} checkpoint, not an arena one")
            if s.get("v") != CHECKPOINT_VERSION:
                raise ValueError(f"unsupported checkpoint version {s.get('v')!r}")
            m = cls(GameConfig.from_dict(s["config"]), s["seed"], record_inputs)
            m.tick = s["tick"]
            m.phase = Phase(s["phase"])
            m.phase_ends_tick = s["phase_ends"]
            m.match_started_tick = s["started"]
            version, internal, gauss = s["rng"]
            m._rng.setstate((version, tuple(internal), gauss))
            m._next_entity_id = s["next_id"]
            m._next_pickup_tick = s["next_pickup"]
            m._results = s["results"]
            m._players = {}
            for row in s["players"]:
                (pid, name, x, y, vx, vy, aim, mx, my, hp, alive, respawn, kills, deaths,
                 score, nft, boost, last_seq, last_queued, queue) = row
                inputs = InputQueue.restored(InputFrame, m.config.input_queue_max,
                                             last_seq, last_queued, queue)
                m._players[pid] = _Player(
                    pid, name, inputs, x, y, vx, vy, aim, mx, my, hp, alive, respawn, kills,
                    deaths, score, nft, boost,
                )
            m._projectiles = {row[0]: _Projectile(*row) for row in s["projectiles"]}
            m._pickups = {row[0]: _Pickup(*row) for row in s["pickups"]}
            m._history = deque(
                (tick, [(pid, x, y) for pid, x, y in rows]) for tick, rows in s["history"]
            )
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(ErrorCode.BAD_CHECKPOINT, f"unreadable checkpoint: {exc}") from None
        return m
