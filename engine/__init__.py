"""The game engine: pure, deterministic, sans-I/O.

Imports only the standard library, msgpack and pydantic. The runtime owns
time and sockets; the engine owns the rules.

The Game API (:mod:`engine.game`), the shared client-frame envelope
(:mod:`engine.protocol`) and the registry of games (:mod:`engine.registry`)
are what the runtime should use; the games live in their own packages
(:mod:`engine.arena`, :mod:`engine.paddle`). The arena names re-exported here
(``Match``, ``GameConfig``, ``Phase``, ``PlayerState``, ``codec``) keep
today's importers working until the runtime reaches games through the
registry (``docs/games.md``).
"""

from __future__ import annotations

from engine import protocol, replay
from engine.arena import GameConfig, Match, Phase, PlayerState, codec
from engine.errors import EngineError, FrameError
from engine.game import Event, Game, GameDefinition, GameInfo, SnapshotCodec
from engine.inputlog import InputLog, LogRecord

__all__ = [
    "EngineError",
    "Event",
    "FrameError",
    "Game",
    "GameConfig",
    "GameDefinition",
    "GameInfo",
    "InputLog",
    "LogRecord",
    "Match",
    "Phase",
    "PlayerState",
    "SnapshotCodec",
    "codec",
    "protocol",
    "replay",
]
