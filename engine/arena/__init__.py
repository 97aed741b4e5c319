"""The arena: the first game on the Game API (a top-down shooter).

Rules in ``docs/engine.md``, wire format in ``docs/protocol.md``. The runtime
reaches it through :data:`GAME` (``engine.registry.load_game("engine.arena")``).
"""

from __future__ import annotations

from engine.arena import codec
from engine.arena.config import GameConfig
from engine.arena.inputs import InputFrame, input_frame
from engine.arena.match import EVENT_KINDS, Match, Phase, PlayerState
from engine.game import GameDefinition, GameInfo

GAME: GameDefinition[GameConfig, InputFrame] = GameDefinition(
    info=GameInfo(
        id="arena",
        name="Arena",
        version=1,
        phases=tuple(p.value for p in Phase),
        description="Top-down shooter: move, aim, fire; most kills wins.",
    ),
    config_type=GameConfig,
    input_model=InputFrame,
    codec=codec,
    create=Match,
    restore=Match.restore,
    event_kinds=EVENT_KINDS,
)
"""The arena's definition (the registry's default game)."""

__all__ = [
    "GAME",
    "GameConfig",
    "InputFrame",
    "Match",
    "Phase",
    "PlayerState",
    "codec",
    "input_frame",
]
