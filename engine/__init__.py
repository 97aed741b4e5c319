"""The game engine: pure, deterministic, sans-I/O.

Imports only the standard library, msgpack and pydantic. The runtime owns
time and sockets; the engine owns the rules.

The Game API (:mod:`engine.game`), the shared client-frame envelope
(:mod:`engine.protocol`) and the registry of games (:mod:`engine.registry`)
are what the runtime uses; the games live in their own packages
(:mod:`engine.arena`, :mod:`engine.paddle`), reached through the registry.
One arena name is still re-exported here, ``codec`` (the arena's snapshot
codec), for the load-test bots (``load_tests/bot.py``) until they decode
through their game's definition.
"""

from __future__ import annotations

from engine import protocol, replay
from engine.arena import codec
from engine.errors import EngineError, FrameError
from engine.game import Event, Game, GameDefinition, GameInfo, SnapshotCodec
from engine.inputlog import InputLog, LogRecord

__all__ = [
    "EngineError",
    "Event",
    "FrameError",
    "Game",
    "GameDefinition",
    "GameInfo",
    "InputLog",
    "LogRecord",
    "SnapshotCodec",
    "codec",
    "protocol",
    "replay",
]
