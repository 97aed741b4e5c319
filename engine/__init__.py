"""The game engine: pure, deterministic, sans-I/O.

Imports only the standard library, msgpack and pydantic. The runtime owns
time and sockets; the engine owns the rules.
"""

from __future__ import annotations

from engine import codec, protocol, replay
from engine.config import GameConfig
from engine.errors import EngineError, FrameError
from engine.inputlog import InputLog, LogRecord
from engine.match import Event, Match, Phase, PlayerState

__all__ = [
    "EngineError",
    "Event",
    "FrameError",
    "GameConfig",
    "InputLog",
    "LogRecord",
    "Match",
    "Phase",
    "PlayerState",
    "codec",
    "protocol",
    "replay",
]
