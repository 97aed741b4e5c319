"""The paddle game: 1-4 players, each guarding one side of a square court.

Rules (``docs/games.md`` has them in prose):

* Seats: a joining player takes the first free side in the order left, right,
  top, bottom and keeps it; a side without a player is a wall.
* Paddles slide along their side at ``paddle_speed`` in the direction of the
  last applied input (``dir`` -1, 0, 1), within the court.
* The ball: served from the centre ``serve_delay_s`` after play starts or a
  point is scored, toward a random guarded side (seeded RNG), up to
  ``serve_angle_deg`` off its normal. It moves in whole units per tick and
  bounces off walls (mirror). Reaching a guarded side, it bounces off the
  paddle if the paddle covers it (the farther from the paddle's centre, the
  steeper, up to ``bounce_angle_deg``; each hit speeds it up by
  ``ball_speedup``), else that player concedes: +1 miss for them, +1 point
  for every other player, and the ball is gone until the next serve.
* Phases: waiting -> countdown -> playing -> ended -> waiting. Play ends when
  a player reaches ``score_limit``, after ``match_s``, when the court is
  empty, or when one player is left of a match that had two or more (a
  walkover); standings: score desc, misses asc, id asc.

Everything is integer but the ball's speed; the only randomness is the
match's ``random.Random``. Same seed and calls, same checkpoint bytes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import msgpack

from engine.errors import EngineError
from engine.game import Event
from engine.inputlog import InputLog
from engine.inputqueue import InputQueue
from engine.paddle.config import PaddleConfig
from engine.paddle.inputs import PaddleInput
from engine.protocol import ErrorCode
from engine.snapcodec import Collection, SchemaCodec, SnapshotSchema

CHECKPOINT_VERSION: Final = 1
SIDES: Final = ("left", "right", "top", "bottom")
"""Side index -> name; a side's goal line is x=0, x=size, y=0, y=size."""
EVENT_KINDS: Final = frozenset({"phase", "serve", "hit", "score", "match_end"})
"""Fields per kind (``Event.to_wire``):

* ``phase``: ``phase``, ``ends`` (tick, 0 = open-ended)
* ``serve``: ``ball``, ``x``, ``y``, ``vx``, ``vy`` (units, units per tick)
* ``hit``: ``player``, ``ball``, ``speed`` (units per second, rounded)
* ``score``: ``player`` (who conceded), ``ball``, ``scorers`` (ids that got a point)
* ``match_end``: ``results`` (as :meth:`PaddleMatch.results`)
"""

SCHEMA: Final = SnapshotSchema(
    collections=(Collection("paddles", movable=1), Collection("balls", movable=2)),
    scalars=("phase", "phase_ends", "serve_at"),
    static=("court",),
)
"""Full snapshot: ``t``, ``tick``, ``acks``, ``full``, ``phase``, ``phase_ends``,
``serve_at`` (tick of the next serve, 0 = none pending), ``court``
``[size, paddle_length, ball_radius]``, ``paddles`` ``{id: [pos, side, score,
misses, name]}``, ``balls`` ``{id: [x, y, vx, vy]}`` (a ball at tick T is at
``(x + vx*(T - tick), y + vy*(T - tick))`` until it bounces)."""
CODEC: Final = SchemaCodec(SCHEMA)


class Phase(StrEnum):
    WAITING = "waiting"
    COUNTDOWN = "countdown"
    PLAYING = "playing"
    ENDED = "ended"


@dataclass(slots=True)
class _Paddle:
    pid: int
    name: str
    side: int
    pos: int
    inputs: InputQueue[PaddleInput]
    dir: int = 0
    score: int = 0
    misses: int = 0


@dataclass(slots=True)
class _Ball:
    bid: int
    x: int
    y: int
    vx: int
    vy: int
    speed: float  # units per tick


class PaddleMatch:
    """One paddle match (the :class:`engine.game.Game` protocol)."""

    def __init__(self, config: PaddleConfig, seed: int, record_inputs: bool = True) -> None:
        self.config: Final = config
        self.seed: Final = seed
        self.record_inputs = record_inputs
        self.tick = 0
        self.phase = Phase.WAITING
        self.phase_ends_tick = 0
        self.input_log = InputLog(PaddleInput)
        self._config_doc = config.to_dict()
        """The config as the checkpoint writes it (the config is frozen: made once)."""
        self._rng = random.Random(seed)
        self._players: dict[int, _Paddle] = {}
        self._balls: dict[int, _Ball] = {}
        self._next_ball = 1
        self._serve_at = 0
        self._peak = 0  # most players at once in the current match (walkover rule)
        self._results: list[dict[str, Any]] = []
        c = config
        self._half = c.paddle_length // 2
        self._paddle_step = max(1, round(c.paddle_speed / c.tick_rate))
        self._ball_step = c.ball_speed / c.tick_rate
        self._max_step = c.max_ball_speed / c.tick_rate

    # -- queries ---------------------------------------------------------------

    def player_ids(self) -> list[int]:
        return sorted(self._players)

    def player_name(self, player_id: int) -> str:
        return self._get(player_id).name

    def side_of(self, player_id: int) -> str:
        """The side a player guards (``left``, ``right``, ``top``, ``bottom``)."""
        return SIDES[self._get(player_id).side]

    def acks(self) -> dict[int, int]:
        return {pid: self._players[pid].inputs.applied for pid in sorted(self._players)}

    def results(self) -> list[dict[str, Any]]:
        """Standings of the last ended match: ``player_id``, ``name``, ``side``,
        ``score``, ``misses``, ``place`` (score desc, misses asc, id asc)."""
        return [dict(row) for row in self._results]

    def _get(self, player_id: int) -> _Paddle:
        p = self._players.get(player_id)
        if p is None:
            raise EngineError(ErrorCode.NOT_IN_ROOM, f"player {player_id} is not in the room")
        return p

    # -- outside calls -----------------------------------------------------------

    def add_player(self, player_id: int, name: str) -> None:
        """Seat a player on the first free side; ``already_joined`` / ``room_full``."""
        if player_id in self._players:
            raise EngineError(ErrorCode.ALREADY_JOINED, f"player {player_id} already joined")
        taken = {p.side for p in self._players.values()}
        free = [s for s in range(self.config.max_players) if s not in taken]
        if not free:
            raise EngineError(
                ErrorCode.ROOM_FULL, f"room is full ({self.config.max_players} players)"
            )
        self._players[player_id] = _Paddle(player_id, name, free[0], self.config.court_size // 2,
                                           InputQueue(self.config.input_queue_max))
        if self.phase is Phase.PLAYING:
            self._peak = max(self._peak, len(self._players))
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "join", name)

    def remove_player(self, player_id: int) -> None:
        """The player leaves; their side becomes a wall. ``not_in_room`` if unknown."""
        self._get(player_id)
        del self._players[player_id]
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "leave")

    def submit(self, player_id: int, inp: PaddleInput) -> bool:
        """Queue an input; False if its seq is not above every queued or applied seq."""
        if not self._get(player_id).inputs.offer(inp):
            return False
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "input", "", inp)
        return True

    def reset_inputs(self, player_id: int) -> None:
        """New or lost connection: drop queued inputs, stop the paddle, restart seqs."""
        p = self._get(player_id)
        p.inputs.reset()
        p.dir = 0
        if self.record_inputs:
            self.input_log.add(self.tick, player_id, "reset")

    def start_now(self) -> list[Event]:
        """Staff: start playing now; ``wrong_phase`` unless WAITING/COUNTDOWN with players."""
        if self.phase not in (Phase.WAITING, Phase.COUNTDOWN) or not self._players:
            raise EngineError(
                ErrorCode.WRONG_PHASE,
                f"cannot start a match in phase {self.phase.value} "
                f"with {len(self._players)} players",
            )
        if self.record_inputs:
            self.input_log.add(self.tick, 0, "start")
        events: list[Event] = []
        self._start_match(self.tick, events)
        return events

    def end_now(self) -> list[Event]:
        """Staff: end the match now; ``wrong_phase`` unless PLAYING."""
        if self.phase is not Phase.PLAYING:
            raise EngineError(
                ErrorCode.WRONG_PHASE, f"cannot end a match in phase {self.phase.value}"
            )
        if self.record_inputs:
            self.input_log.add(self.tick, 0, "end")
        events: list[Event] = []
        self._end_match(self.tick, events)
        return events

    # -- the step ------------------------------------------------------------------

    def step(self) -> list[Event]:
        """One tick: inputs (by player id), paddles, serve, balls, phase changes."""
        t = self.tick + 1
        events: list[Event] = []
        c = self.config
        for pid in sorted(self._players):
            p = self._players[pid]
            for inp in p.inputs.take(c.max_inputs_per_tick):
                p.dir = inp.dir
        if self.phase is not Phase.ENDED:
            lo, hi = self._half, c.court_size - self._half
            for pid in sorted(self._players):
                p = self._players[pid]
                if p.dir:
                    p.pos = min(hi, max(lo, p.pos + p.dir * self._paddle_step))
        if self.phase is Phase.PLAYING:
            if self._serve_at and t >= self._serve_at and not self._balls:
                self._serve(t, events)
            for bid in sorted(self._balls):
                self._move_ball(self._balls[bid], t, events)
        self.tick = t
        self._advance_phase(t, events)
        return events

    def _serve(self, t: int, events: list[Event]) -> None:
        goals = sorted(p.side for p in self._players.values())
        if not goals:
            return
        side = goals[self._rng.randrange(len(goals))]
        limit = math.radians(self.config.serve_angle_deg)
        angle = self._rng.uniform(-limit, limit)
        # The normal pointing from the centre to the side, turned by the angle.
        nx, ny = ((-1, 0), (1, 0), (0, -1), (0, 1))[side]
        cos, sin = math.cos(angle), math.sin(angle)
        speed = self._ball_step
        centre = self.config.court_size // 2
        ball = _Ball(
            self._next_ball, centre, centre,
            round((nx * cos - ny * sin) * speed), round((nx * sin + ny * cos) * speed),
            speed,
        )
        self._next_ball += 1
        self._balls[ball.bid] = ball
        self._serve_at = 0
        events.append(Event("serve", t, {"ball": ball.bid, "x": ball.x, "y": ball.y,
                                         "vx": ball.vx, "vy": ball.vy}))

    def _owner(self, side: int) -> _Paddle | None:
        for p in self._players.values():
            if p.side == side:
                return p
        return None

    def _move_ball(self, ball: _Ball, t: int, events: list[Event]) -> None:
        size = self.config.court_size
        r = self.config.ball_radius
        ball.x += ball.vx
        ball.y += ball.vy
        # Per axis: x meets the left/right lines, y the top/bottom ones.
        for axis in (0, 1):
            coord = ball.x if axis == 0 else ball.y
            if coord - r <= 0:
                side = 0 if axis == 0 else 2
            elif coord + r >= size:
                side = 1 if axis == 0 else 3
            else:
                continue
            owner = self._owner(side)
            along = ball.y if axis == 0 else ball.x
            if owner is not None and abs(along - owner.pos) > self._half + r:
                self._concede(ball, owner, t, events)
                return
            # Mirror back into the court across the line the ball touched.
            line = r if side in (0, 2) else size - r
            if axis == 0:
                ball.x = 2 * line - ball.x
            else:
                ball.y = 2 * line - ball.y
            if owner is None:
                if axis == 0:
                    ball.vx = -ball.vx
                else:
                    ball.vy = -ball.vy
                continue
            self._hit(ball, owner, along, side, t, events)

    def _hit(
        self, ball: _Ball, owner: _Paddle, along: int, side: int, t: int, events: list[Event]
    ) -> None:
        c = self.config
        offset = max(-1.0, min(1.0, (along - owner.pos) / (self._half + c.ball_radius)))
        angle = offset * math.radians(c.bounce_angle_deg)
        ball.speed = min(self._max_step, ball.speed * c.ball_speedup)
        normal = ball.speed * math.cos(angle)
        tangent = ball.speed * math.sin(angle)
        # Away from the side the paddle guards: left/top +1, right/bottom -1.
        away = 1 if side in (0, 2) else -1
        if side < 2:
            ball.vx = round(away * normal)
            ball.vy = round(tangent)
        else:
            ball.vy = round(away * normal)
            ball.vx = round(tangent)
        events.append(Event("hit", t, {"player": owner.pid, "ball": ball.bid,
                                       "speed": round(ball.speed * c.tick_rate)}))

    def _concede(self, ball: _Ball, owner: _Paddle, t: int, events: list[Event]) -> None:
        owner.misses += 1
        scorers = [pid for pid in sorted(self._players) if pid != owner.pid]
        for pid in scorers:
            self._players[pid].score += 1
        del self._balls[ball.bid]
        self._serve_at = t + max(1, self.config.ticks(self.config.serve_delay_s))
        events.append(Event("score", t, {"player": owner.pid, "ball": ball.bid,
                                         "scorers": scorers}))

    # -- phases --------------------------------------------------------------------

    def _set_phase(self, to: Phase, t: int, ends: int, events: list[Event]) -> None:
        self.phase = to
        self.phase_ends_tick = ends
        events.append(Event("phase", t, {"phase": to.value, "ends": ends}))

    def _advance_phase(self, t: int, events: list[Event]) -> None:
        c = self.config
        n = len(self._players)
        if self.phase is Phase.WAITING:
            if n >= c.min_players:
                self._set_phase(Phase.COUNTDOWN, t, t + c.ticks(c.countdown_s), events)
        elif self.phase is Phase.COUNTDOWN:
            if n < c.min_players:
                self._set_phase(Phase.WAITING, t, 0, events)
            elif t >= self.phase_ends_tick:
                self._start_match(t, events)
        elif self.phase is Phase.PLAYING:
            if (
                n == 0
                or (n == 1 and self._peak >= 2)
                or t >= self.phase_ends_tick
                or any(p.score >= c.score_limit for p in self._players.values())
            ):
                self._end_match(t, events)
        elif t >= self.phase_ends_tick:
            self._reset_scores()
            self._set_phase(Phase.WAITING, t, 0, events)

    def _reset_scores(self) -> None:
        for p in self._players.values():
            p.score = p.misses = 0

    def _start_match(self, t: int, events: list[Event]) -> None:
        c = self.config
        self._reset_scores()
        self._balls.clear()
        for p in self._players.values():
            p.pos = c.court_size // 2
        self._serve_at = t + max(1, c.ticks(c.serve_delay_s))
        self._peak = len(self._players)
        self._set_phase(Phase.PLAYING, t, t + c.ticks(c.match_s), events)

    def _end_match(self, t: int, events: list[Event]) -> None:
        ranked = sorted(self._players.values(), key=lambda p: (-p.score, p.misses, p.pid))
        self._results = [
            {"player_id": p.pid, "name": p.name, "side": SIDES[p.side], "score": p.score,
             "misses": p.misses, "place": i + 1}
            for i, p in enumerate(ranked)
        ]
        self._balls.clear()
        self._serve_at = 0
        self._set_phase(Phase.ENDED, t, t + self.config.ticks(self.config.ended_s), events)
        events.append(Event("match_end", t, {"results": self.results()}))

    # -- snapshots and checkpoints -----------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The full snapshot (shape: :data:`SCHEMA`)."""
        c = self.config
        return {
            "t": "snap",
            "tick": self.tick,
            "acks": self.acks(),
            "full": True,
            "phase": self.phase.value,
            "phase_ends": self.phase_ends_tick,
            "serve_at": self._serve_at,
            "court": [c.court_size, c.paddle_length, c.ball_radius],
            "paddles": {
                pid: [p.pos, p.side, p.score, p.misses, p.name]
                for pid, p in sorted(self._players.items())
            },
            "balls": {
                bid: [b.x, b.y, b.vx, b.vy] for bid, b in sorted(self._balls.items())
            },
        }

    def checkpoint(self) -> bytes:
        """The exact state as bytes (not the input log); :meth:`restore` continues it."""
        version, internal, gauss = self._rng.getstate()
        state = {
            "game": "paddle",
            "v": CHECKPOINT_VERSION,
            "config": self._config_doc,
            "seed": self.seed,
            "tick": self.tick,
            "phase": self.phase.value,
            "phase_ends": self.phase_ends_tick,
            "rng": [version, list(internal), gauss],
            "next_ball": self._next_ball,
            "serve_at": self._serve_at,
            "peak": self._peak,
            "results": self._results,
            "players": [
                [p.pid, p.name, p.side, p.pos, p.dir, p.score, p.misses, *p.inputs.state()]
                for _, p in sorted(self._players.items())
            ],
            "balls": [
                [b.bid, b.x, b.y, b.vx, b.vy, b.speed]
                for _, b in sorted(self._balls.items())
            ],
        }
        packed: bytes = msgpack.packb(state, use_bin_type=True)
        return packed

    @classmethod
    def restore(cls, data: bytes, record_inputs: bool = True) -> PaddleMatch:
        """Rebuild a match from :meth:`checkpoint` bytes; ``bad_checkpoint`` otherwise."""
        try:
            s = msgpack.unpackb(data, raw=False, strict_map_key=False)
            if not isinstance(s, dict) or s.get("game") != "paddle":
                raise ValueError("not a paddle checkpoint")
            if s.get("v") != CHECKPOINT_VERSION:
                raise ValueError(f"unsupported checkpoint version {s.get('v')!r}")
            m = cls(PaddleConfig.from_dict(s["config"]), s["seed"], record_inputs)
            m.tick = s["tick"]
            m.phase = Phase(s["phase"])
            m.phase_ends_tick = s["phase_ends"]
            version, internal, gauss = s["rng"]
            m._rng.setstate((version, tuple(internal), gauss))
            m._next_ball = s["next_ball"]
            m._serve_at = s["serve_at"]
            m._peak = s["peak"]
            m._results = s["results"]
            for pid, name, side, pos, dir_, score, misses, last_seq, last_queued, queue in (
                s["players"]
            ):
                inputs = InputQueue.restored(PaddleInput, m.config.input_queue_max,
                                             last_seq, last_queued, queue)
                m._players[pid] = _Paddle(pid, name, side, pos, inputs, dir_, score, misses)
            m._balls = {row[0]: _Ball(*row) for row in s["balls"]}
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(ErrorCode.BAD_CHECKPOINT, f"unreadable checkpoint: {exc}") from None
        return m
