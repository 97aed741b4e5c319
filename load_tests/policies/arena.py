"""The arena bot: wanders, aims with a human reaction time, fires in bursts.

The stick wanders (smooth random walk of the heading, pauses), the aim
follows a target with a human reaction time (180-350 ms between "looks",
Gaussian error, finite turn speed) and the trigger is pulled in bursts.
Tracking players (``--track-fraction``) decode the state and aim at / walk
toward the nearest living opponent instead of a wandering virtual target.
Input fields: ``mx``, ``my``, ``aim``, ``fire`` and ``tick`` (the last
snapshot's tick, for lag compensation).
"""

from __future__ import annotations

import math
import random
from typing import Any

from load_tests.policies import Policy

INPUT_RATE = 20.0


def _wrap(a: float) -> float:
    """Angle into ``[-pi, pi)``."""
    return (a + math.pi) % (2 * math.pi) - math.pi


class ArenaPlayer:
    """One arena person (the behaviour the bots have always had)."""

    def __init__(self, rng: random.Random, tracking: bool) -> None:
        self.tracking = tracking
        self.wants_state = tracking
        self.heading = rng.uniform(-math.pi, math.pi)
        self.moving = True
        self.next_move_change = 0.0
        self.aim = rng.uniform(-math.pi, math.pi)
        self.aim_goal = self.aim
        self.virtual_target = rng.uniform(-math.pi, math.pi)
        self.next_look = 0.0
        self.burst_end = 0.0
        self.next_burst = rng.uniform(0.0, 2.0)

    def fields(self, now: float, rng: random.Random, state: dict[str, Any] | None,
               pid: int | None, last_tick: int | None) -> dict[str, Any]:
        mx, my, aim, fire = self.steer(now, rng, state, pid)
        out: dict[str, Any] = {"mx": round(mx, 3), "my": round(my, 3), "aim": round(aim, 3),
                               "fire": fire}
        if last_tick is not None:
            out["tick"] = last_tick
        return out

    def steer(self, now: float, rng: random.Random, state: dict[str, Any] | None = None,
              pid: int | None = None) -> tuple[float, float, float, bool]:
        """One input's worth of behaviour: ``(mx, my, aim, fire)``."""
        rnd = rng.random
        if now >= self.next_move_change:
            self.moving = rnd() < 0.85
            self.next_move_change = now + 0.5 + rnd() * 2.5
        self.heading += (rnd() - 0.5) * 0.7
        target_angle: float | None = None
        if self.tracking and state is not None and pid is not None:
            target_angle = self._track(state, pid)
        if now >= self.next_look:
            # A "look": the bot notices where the target is now, with some error.
            if target_angle is None:
                self.virtual_target += (rnd() - 0.5) * 1.2
                target_angle = self.virtual_target
            self.aim_goal = target_angle + rng.gauss(0.0, 0.08)
            self.next_look = now + 0.18 + rnd() * 0.17
        turn = _wrap(self.aim_goal - self.aim)
        step = 0.45  # ~9 rad/s at 20 Hz
        self.aim = _wrap(self.aim + max(-step, min(step, turn)))
        if now >= self.burst_end and now >= self.next_burst:
            self.burst_end = now + 0.2 + rnd() * 0.7
            self.next_burst = self.burst_end + 0.4 + rnd() * 1.6
        fire = now < self.burst_end and (not self.tracking or abs(turn) < 0.35)
        if self.moving:
            return math.cos(self.heading), math.sin(self.heading), self.aim, fire
        return 0.0, 0.0, self.aim, fire

    def _track(self, state: dict[str, Any], pid: int) -> float | None:
        """Aim at and walk toward the nearest living opponent; angle or None."""
        players = state.get("players")
        if not isinstance(players, dict):
            return None
        me = players.get(pid)
        if not me:
            return None
        mx, my = me[0], me[1]
        best: tuple[float, float, float] | None = None
        for other, p in players.items():
            if other == pid or not (p[4] & 1):
                continue
            dx, dy = p[0] - mx, p[1] - my
            d2 = dx * dx + dy * dy
            if best is None or d2 < best[0]:
                best = (d2, dx, dy)
        if best is None:
            return None
        d2, dx, dy = best
        angle = math.atan2(dy, dx)
        # Close in when far (> 300 units = 2400 wire units), strafe when near.
        self.heading = angle if d2 > 2400.0**2 else angle + math.pi / 2
        return angle


POLICY = Policy(
    game="arena",
    input_rate=INPUT_RATE,
    new_player=ArenaPlayer,
    chat_lines=("gg", "nice shot", "lol", "where are you?", "behind the wall!", "brb",
                "one more round", "who has the speed boost?", "gl hf", "close one"),
)
