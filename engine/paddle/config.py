"""The paddle game's constants: one frozen :class:`PaddleConfig`.

Lengths are in court units (ints; the court is ``court_size`` units square,
y grows downwards), speeds in units per second, durations in seconds; the
match converts them to whole ticks and units per tick once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError
from engine.protocol import ErrorCode


@dataclass(frozen=True)
class PaddleConfig:
    """Every constant of the paddle game; invalid combinations raise ``bad_config``."""

    tick_rate: int = 60
    snapshot_rate: int = 30
    """Snapshots per second the runtime sends (every second tick by default)."""
    max_players: int = 4
    """At most 4: one per side of the court."""
    min_players: int = 2
    countdown_s: float = 2.0
    match_s: float = 120.0
    """PLAYING ends after this long..."""
    score_limit: int = 7
    """...or as soon as a player has this many points."""
    ended_s: float = 5.0
    court_size: int = 16000
    paddle_length: int = 3200
    paddle_speed: float = 14400.0
    ball_radius: int = 160
    ball_speed: float = 7200.0
    """Speed of a served ball."""
    ball_speedup: float = 1.05
    """Each paddle hit multiplies the ball's speed by this, up to ``max_ball_speed``."""
    max_ball_speed: float = 19200.0
    serve_delay_s: float = 1.0
    """Time between the start of play (or a point) and the next serve."""
    serve_angle_deg: float = 30.0
    """A serve leaves the centre toward a random goal, up to this far off its normal."""
    bounce_angle_deg: float = 60.0
    """A ball hitting a paddle's end leaves at this angle to the normal (centre: 0)."""
    max_inputs_per_tick: int = 4
    input_queue_max: int = 8

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.tick_rate < 1 or self.snapshot_rate < 1:
            problems.append("tick_rate and snapshot_rate must be >= 1")
        if not 1 <= self.min_players <= self.max_players <= 4:
            problems.append("need 1 <= min_players <= max_players <= 4")
        if self.score_limit < 1 or self.match_s <= 0:
            problems.append("score_limit must be >= 1 and match_s > 0")
        if not 0 < self.paddle_length < self.court_size:
            problems.append("need 0 < paddle_length < court_size")
        if not 0 < 2 * self.ball_radius < self.paddle_length:
            problems.append("need 0 < 2 * ball_radius < paddle_length")
        if self.paddle_speed <= 0 or self.ball_speed * 1.0 / max(1, self.tick_rate) < 1:
            problems.append("paddle_speed must be > 0 and the ball move >= 1 unit per tick")
        if self.ball_speedup < 1 or self.max_ball_speed < self.ball_speed:
            problems.append("need ball_speedup >= 1 and max_ball_speed >= ball_speed")
        if self.max_ball_speed / max(1, self.tick_rate) >= self.court_size / 4:
            problems.append("max_ball_speed crosses a quarter of the court per tick")
        if not (0 <= self.serve_angle_deg < 90 and 0 <= self.bounce_angle_deg < 90):
            problems.append("serve and bounce angles must be in [0, 90) degrees")
        if self.max_inputs_per_tick < 1 or self.input_queue_max < 1:
            problems.append("input limits must be >= 1")
        if problems:
            raise EngineError(ErrorCode.BAD_CONFIG, "; ".join(problems))

    def ticks(self, seconds: float) -> int:
        """A duration in whole ticks (rounded half to even)."""
        return round(seconds * self.tick_rate)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints; inverse of :meth:`from_dict`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaddleConfig:
        """Rebuild a config from :meth:`to_dict` output (unknown keys rejected)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise EngineError(ErrorCode.BAD_CONFIG, f"unknown config key {unknown[0]!r}")
        return cls(**data)
