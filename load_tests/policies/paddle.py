"""The paddle bot: watches the ball like a person and moves its paddle to meet it.

Every player decodes the state (it cannot play blind). A person does not see
the present: every 120-220 ms it takes a "look" at the state as it was one
reaction time ago (150-260 ms, per person) and predicts where the ball will
cross its goal line (walls folded in as mirrors), with an error that grows
with the ball's speed, with the time it still has to travel and with the
person's skill. It means to meet each incoming ball somewhere along the
paddle (not always the middle: people angle their returns) and stops
re-aiming once the ball is 0.4 s away. When the ball moves away (or there is
none) it drifts back toward the middle, lazily. Now and then (4 % of looks)
it is distracted and keeps its old target. Between looks it holds ``dir``
toward the target (-1, 0, 1) and stops inside a dead band, so a paddle
overshoots and hesitates like one driven by a thumb. In self-play it returns
about four balls in five (``tests/load_tests/test_policies.py``).

Input fields: ``dir``; sent at 30 Hz (the snapshot rate).
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any

from load_tests.policies import Policy

INPUT_RATE = 30.0
ERROR_BASE = 700.0
ERROR_PER_TICK = 14.0
"""The prediction error's standard deviation (court units): base + per game tick the
ball still has to travel, times the person's ``skill`` and the ball's speed in
serve speeds (a fast ball is harder to read)."""
SERVE_STEP = 120.0
"""A served ball's units per tick (the default 7200 units/s at 60 Hz)."""
COMMIT_TICKS = 24
"""Once the ball is this few ticks (0.4 s) away, a person stops re-aiming."""
EDGE = 0.9
"""A person meets an incoming ball up to this fraction of half a paddle off its centre."""
DEFAULT_COURT = (16000, 3200, 160)
"""``[size, paddle_length, ball_radius]`` until a full snapshot says otherwise."""


def fold(a: float, lo: float, hi: float) -> float:
    """``a`` reflected into ``[lo, hi]`` as a ball bouncing between two walls would be."""
    span = hi - lo
    if span <= 0:
        return lo
    p = (a - lo) % (2 * span)
    return lo + (2 * span - p if p > span else p)


Court = tuple[int, int, int]


def intercept(ball: list[Any], side: int, court: Court) -> tuple[float, float] | None:
    """Where (along the side) and in how many ticks ``ball`` ``[x, y, vx, vy]`` reaches
    the goal line of ``side`` (0 left, 1 right, 2 top, 3 bottom); None if moving away."""
    size, _, r = court
    x, y, vx, vy = ball[0], ball[1], ball[2], ball[3]
    normal, along, vn, va = (x, y, vx, vy) if side < 2 else (y, x, vy, vx)
    line = r if side in (0, 2) else size - r
    toward = vn < 0 if side in (0, 2) else vn > 0
    if not toward:
        return None
    ticks = max(0.0, (line - normal) / vn)
    return fold(along + va * ticks, r, size - r), ticks


class PaddlePlayer:
    """One paddle person (see the module docstring)."""

    wants_state = True

    def __init__(self, rng: random.Random, tracking: bool) -> None:
        del tracking  # every paddle player watches the ball
        self.reaction = rng.uniform(0.15, 0.26)
        self.skill = rng.uniform(0.8, 1.3)
        """Multiplies the prediction error: higher is clumsier."""
        self.next_look = 0.0
        self.target: float | None = None
        self.seen: deque[tuple[float, dict[str, Any]]] = deque()
        # What the person noticed (for tests and the curious): looks taken,
        # looks at which a ball had moved since the last look, the highest score.
        self.looks = 0
        self.ball_moves = 0
        self.max_score = 0
        self._last_ball: tuple[int, int, int] | None = None
        self.incoming = False
        self.offset = 0.0

    def fields(self, now: float, rng: random.Random, state: dict[str, Any] | None,
               pid: int | None, last_tick: int | None) -> dict[str, Any]:
        if state is None or pid is None:
            return {"dir": 0}
        seen = self.seen
        if not seen or seen[-1][1] is not state:
            seen.append((now, state))
        while len(seen) > 1 and seen[1][0] <= now - self.reaction:
            seen.popleft()
        paddles = state.get("paddles")
        me = paddles.get(pid) if isinstance(paddles, dict) else None
        if not me:
            return {"dir": 0}
        if now >= self.next_look:
            self.next_look = now + rng.uniform(0.12, 0.22)
            self._look(seen[0][1], pid, rng)
        if self.target is None:
            return {"dir": 0}
        court = _court(state)
        diff = self.target - me[0]
        band = court[1] * 0.12
        return {"dir": 0 if abs(diff) < band else (1 if diff > 0 else -1)}

    def _look(self, state: dict[str, Any], pid: int, rng: random.Random) -> None:
        """Update the target from a (reaction-time old) state."""
        self.looks += 1
        paddles = state.get("paddles")
        me = paddles.get(pid) if isinstance(paddles, dict) else None
        if not me:
            return
        assert isinstance(paddles, dict)
        self.max_score = max([self.max_score, *(int(p[2]) for p in paddles.values())])
        balls = state.get("balls")
        ball = None
        if isinstance(balls, dict) and balls:
            bid = min(balls)
            ball = balls[bid]
            key = (bid, ball[0], ball[1])
            if self._last_ball is not None and key != self._last_ball:
                self.ball_moves += 1
            self._last_ball = key
        if rng.random() < 0.04:
            return  # distracted: keeps the old target
        court = _court(state)
        size, length, _ = court
        hit = None if ball is None else intercept(ball, me[1], court)
        if ball is None or hit is None:
            self.incoming = False
            # Nothing coming: drift back toward the middle, now and then.
            if self.target is None or rng.random() < 0.5:
                self.target = size / 2 + rng.gauss(0.0, length * 0.25)
            return
        where, ticks = hit
        if self.incoming and ticks < COMMIT_TICKS:
            return  # too late to change one's mind: committed to the last guess
        if not self.incoming:
            # A new ball coming: pick the part of the paddle to meet it with
            # (people angle their returns) and stick to it for this approach.
            self.incoming = True
            self.offset = rng.uniform(-EDGE, EDGE) * length / 2
        speed = math.hypot(ball[2], ball[3]) / SERVE_STEP
        error = self.skill * speed * (ERROR_BASE + ERROR_PER_TICK * ticks)
        lo, hi = length / 2, size - length / 2
        self.target = min(hi, max(lo, where + self.offset + rng.gauss(0.0, error)))


def _court(state: dict[str, Any]) -> Court:
    court = state.get("court")
    if isinstance(court, list) and len(court) == 3:
        return int(court[0]), int(court[1]), int(court[2])
    return DEFAULT_COURT


POLICY = Policy(
    game="paddle",
    input_rate=INPUT_RATE,
    new_player=PaddlePlayer,
    chat_lines=("gg", "nice save", "so close", "lol", "one more", "gl hf", "that spin!",
                "too fast", "rematch?", "brb"),
)
