"""The paddle game: the second game on the Game API (``docs/games.md``).

2-4 players, one per side of a square court, one ball; missing it gives
every other player a point. 60 Hz ticks, 30 Hz snapshots, its own input
schema (``dir``), snapshot shape and end conditions.
"""

from __future__ import annotations

from engine.game import GameDefinition, GameInfo
from engine.paddle.config import PaddleConfig
from engine.paddle.inputs import PaddleInput, input_frame
from engine.paddle.match import CODEC, EVENT_KINDS, SCHEMA, SIDES, PaddleMatch, Phase

GAME: GameDefinition[PaddleConfig, PaddleInput] = GameDefinition(
    info=GameInfo(
        id="paddle",
        name="Paddle",
        version=1,
        phases=tuple(p.value for p in Phase),
        description="2-4 players guard the sides of a square court; miss the ball, "
        "everyone else scores.",
    ),
    config_type=PaddleConfig,
    input_model=PaddleInput,
    codec=CODEC,
    create=PaddleMatch,
    restore=PaddleMatch.restore,
    event_kinds=EVENT_KINDS,
)
"""The paddle game's definition."""

__all__ = [
    "CODEC",
    "GAME",
    "SCHEMA",
    "SIDES",
    "PaddleConfig",
    "PaddleInput",
    "PaddleMatch",
    "Phase",
    "input_frame",
]
