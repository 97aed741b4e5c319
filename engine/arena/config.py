"""Game constants: one frozen :class:`GameConfig`, documented defaults.

Durations are given in seconds and converted to whole ticks with
:meth:`GameConfig.ticks` (``round(seconds * tick_rate)``), so that the engine
itself only ever counts ticks. Distances are in world units, speeds in units
per second. The engine never reads settings: the runtime builds a config and
hands it over.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError

Rect = tuple[int, int, int, int]
"""An axis-aligned wall: ``(x, y, width, height)`` in world units, (x, y) = min corner."""
Point = tuple[int, int]

DEFAULT_WALLS: tuple[Rect, ...] = (
    (700, 400, 200, 200),
    (300, 200, 60, 250),
    (1240, 550, 60, 250),
    (300, 750, 300, 50),
    (1000, 200, 300, 50),
)
DEFAULT_SPAWNS: tuple[Point, ...] = (
    (100, 100),
    (1500, 100),
    (100, 900),
    (1500, 900),
    (800, 100),
    (800, 900),
    (100, 500),
    (1500, 500),
)
DEFAULT_PICKUP_SPOTS: tuple[Point, ...] = ((800, 300), (800, 700), (200, 500), (1400, 500))


@dataclass(frozen=True)
class GameConfig:
    """Every constant of the game. Immutable; validated on construction.

    Invalid combinations raise ``EngineError(code="bad_config")``.
    """

    # -- timing ---------------------------------------------------------
    tick_rate: int = 20
    """Fixed steps per second; one :meth:`Match.step` is ``1 / tick_rate`` s."""
    snapshot_rate: int = 20
    """Snapshots per second the runtime sends (the engine does not use it)."""

    # -- room -----------------------------------------------------------
    max_players: int = 20
    min_players: int = 2
    """Players needed to leave WAITING for COUNTDOWN."""

    # -- match phases (seconds) ------------------------------------------
    countdown_s: float = 3.0
    match_s: float = 180.0
    """PLAYING ends after this long (time limit)..."""
    score_limit: int = 20
    """...or as soon as a player reaches this score."""
    ended_s: float = 5.0
    """How long ENDED shows the final standings before WAITING."""

    # -- map --------------------------------------------------------------
    map_width: int = 1600
    map_height: int = 1000
    walls: tuple[Rect, ...] = DEFAULT_WALLS
    spawn_points: tuple[Point, ...] = DEFAULT_SPAWNS
    spawn_clear_radius: float = 120.0
    """A spawn point is free when no living player is closer than this."""

    # -- players ------------------------------------------------------------
    player_radius: float = 16.0
    max_speed: float = 250.0
    """Top speed with full stick; the server alone decides speed."""
    accel: float = 2000.0
    """Units/s^2 toward the intended velocity while the stick is pushed."""
    friction: float = 1500.0
    """Units/s^2 toward standstill while the stick is released."""
    max_hp: int = 100
    respawn_s: float = 2.0

    # -- weapon ----------------------------------------------------------------
    fire_cooldown_s: float = 0.3
    projectile_speed: float = 700.0
    projectile_radius: float = 4.0
    projectile_lifetime_s: float = 1.0
    projectile_damage: int = 25

    # -- pickups -----------------------------------------------------------------
    pickup_spots: tuple[Point, ...] = DEFAULT_PICKUP_SPOTS
    pickup_interval_s: float = 8.0
    """During PLAYING, every interval one pickup appears on a free spot."""
    pickup_kinds: tuple[str, ...] = ("health", "speed")
    """Kinds that may appear (each equally likely); a subset of health, speed."""
    pickup_radius: float = 14.0
    health_amount: int = 50
    speed_boost_mult: float = 1.5
    speed_boost_s: float = 5.0

    # -- input handling ------------------------------------------------------------
    max_inputs_per_tick: int = 4
    input_queue_max: int = 8
    lag_comp_ms: int = 200
    """History kept for lag compensation; older shooter ticks are clamped."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.tick_rate < 1 or self.snapshot_rate < 1:
            problems.append("tick_rate and snapshot_rate must be >= 1")
        if not 1 <= self.min_players <= self.max_players:
            problems.append("need 1 <= min_players <= max_players")
        if self.map_width < 1 or self.map_height < 1:
            problems.append("map must have a positive size")
        if not self.spawn_points:
            problems.append("need at least one spawn point")
        if self.max_inputs_per_tick < 1 or self.input_queue_max < 1:
            problems.append("input limits must be >= 1")
        if self.player_radius <= 0 or self.max_speed <= 0 or self.max_hp < 1:
            problems.append("player radius, speed and hp must be positive")
        if self.ticks(self.projectile_lifetime_s) < 1 or self.projectile_speed <= 0:
            problems.append("projectiles must live at least one tick at positive speed")
        if self.lag_comp_ms < 0 or self.score_limit < 1:
            problems.append("lag_comp_ms must be >= 0 and score_limit >= 1")
        if not self.pickup_kinds or not set(self.pickup_kinds) <= {"health", "speed"}:
            problems.append("pickup_kinds must be a non-empty subset of health, speed")
        for x, y in (*self.spawn_points, *self.pickup_spots):
            if not (0 <= x <= self.map_width and 0 <= y <= self.map_height):
                problems.append(f"point ({x}, {y}) is outside the map")
        if problems:
            raise EngineError("bad_config", "; ".join(problems))

    def ticks(self, seconds: float) -> int:
        """Convert a duration in seconds to whole ticks (rounded half to even)."""
        return round(seconds * self.tick_rate)

    @property
    def lag_comp_ticks(self) -> int:
        """How many ticks of position history lag compensation may rewind."""
        return self.lag_comp_ms * self.tick_rate // 1000

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples) for checkpoints; inverse of :meth:`from_dict`."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(item) if isinstance(item, tuple) else item for item in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GameConfig:
        """Rebuild a config from :meth:`to_dict` output (unknown keys rejected)."""
        kwargs: dict[str, Any] = {}
        names = {f.name for f in dataclasses.fields(cls)}
        for key, value in data.items():
            if key not in names:
                raise EngineError("bad_config", f"unknown config key {key!r}")
            if isinstance(value, list):
                value = tuple(tuple(item) if isinstance(item, list) else item for item in value)
            kwargs[key] = value
        return cls(**kwargs)
