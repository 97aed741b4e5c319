"""The registry of games: dotted paths to :class:`engine.game.GameDefinition`s.

The runtime's setting ``GAMES`` is a list of dotted paths, like Django's
``INSTALLED_APPS``; :func:`load_games` turns it into ``{game id: definition}``
in order, the first game being the default. A path names either a module
with a ``GAME`` attribute (``"engine.arena"``) or a definition inside a
module (``"myproject.games.chess.DEFINITION"``).

Every problem is an ``EngineError`` with code ``bad_game`` whose message
names the dotted path and the cause: a module that fails to import (and the
exception it raised), a path that names no definition, an invalid game id,
name, version or phase list, an invalid default config (including a
snapshot rate that does not divide the tick rate, or fewer max than min
players), or two paths with the same game id.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
from typing import Any, Final

from engine.errors import EngineError
from engine.game import GAME_ID_RE, PHASE_RE, RESERVED_EVENT_KINDS, AnyGame, GameDefinition
from engine.protocol import ErrorCode, InputBase

DEFAULT_GAMES: Final = ("engine.arena", "engine.paddle")
"""The games a server offers when its settings name none; the arena is the default."""


def _bad(path: str, why: str) -> EngineError:
    return EngineError(ErrorCode.BAD_GAME, f"game {path!r}: {why}")


def load_game(path: str) -> AnyGame:
    """Import the definition at ``path`` and validate it (see the module docstring)."""
    if not isinstance(path, str) or not path or path.startswith("."):
        raise _bad(str(path), "a game is named by an absolute dotted path")
    try:
        module = importlib.import_module(path)
        target: Any = getattr(module, "GAME", None)
        if target is None:
            raise _bad(path, "module has no GAME attribute")
    except ModuleNotFoundError as exc:
        # "a.b.NAME": the module is a.b and NAME an attribute of it.
        parent, _, attr = path.rpartition(".")
        if not parent or exc.name != path:
            raise _bad(path, f"import failed: {type(exc).__name__}: {exc}") from exc
        try:
            module = importlib.import_module(parent)
        except Exception as inner:
            raise _bad(path, f"import failed: {type(inner).__name__}: {inner}") from inner
        if not hasattr(module, attr):
            raise _bad(path, f"module {parent!r} has no attribute {attr!r}") from None
        target = getattr(module, attr)
    except EngineError:
        raise
    except Exception as exc:
        # Whatever the game's module raised while importing (SyntaxError,
        # ImportError, its own bugs): the operator needs the cause, not a crash.
        raise _bad(path, f"import failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(target, GameDefinition):
        raise _bad(path, f"expected a GameDefinition, got {type(target).__name__}")
    validate(target, path)
    return target


def validate(definition: AnyGame, path: str = "<definition>") -> None:
    """Check a definition's info, default config and parts; ``bad_game`` naming ``path``."""
    info = definition.info
    if not isinstance(info.id, str) or not GAME_ID_RE.match(info.id):
        raise _bad(path, f"id {info.id!r} must match {GAME_ID_RE.pattern}")
    if not isinstance(info.name, str) or not info.name.strip():
        raise _bad(path, "name must be a non-empty string")
    if not isinstance(info.version, int) or isinstance(info.version, bool) or info.version < 1:
        raise _bad(path, f"version must be an int >= 1, not {info.version!r}")
    phases = info.phases
    if not phases or len(set(phases)) != len(phases) or not all(
        isinstance(p, str) and PHASE_RE.match(p) for p in phases
    ):
        raise _bad(path, f"phases must be unique names matching {PHASE_RE.pattern}, "
                         f"not {phases!r}")
    if info.playing_phase not in phases:
        raise _bad(path, f"playing_phase {info.playing_phase!r} is not one of {phases!r}")
    if not (isinstance(definition.input_model, type)
            and issubclass(definition.input_model, InputBase)):
        raise _bad(path, "input_model must subclass engine.protocol.InputBase")
    missing = RESERVED_EVENT_KINDS - definition.event_kinds
    if missing:
        raise _bad(path, f"event_kinds must include {sorted(missing)}")
    if not dataclasses.is_dataclass(definition.config_type):
        raise _bad(path, "config_type must be a (frozen) dataclass")
    try:
        config = definition.default_config()
    except EngineError as exc:
        raise _bad(path, f"invalid default config: {exc.message}") from None
    except Exception as exc:
        raise _bad(path, f"default config failed: {type(exc).__name__}: {exc}") from None
    check_config(config, path)


def check_config(config: Any, path: str = "<config>") -> None:
    """The rules every game's config obeys (the runtime's, not the game's)."""
    tick, snap = getattr(config, "tick_rate", None), getattr(config, "snapshot_rate", None)
    lo, hi = getattr(config, "min_players", None), getattr(config, "max_players", None)
    for name, value in (("tick_rate", tick), ("snapshot_rate", snap),
                        ("min_players", lo), ("max_players", hi)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _bad(path, f"invalid default config: {name} must be an int >= 1, not {value!r}")
    assert isinstance(tick, int) and isinstance(snap, int)
    assert isinstance(lo, int) and isinstance(hi, int)
    if snap > tick or tick % snap:
        raise _bad(path, f"invalid default config: snapshot_rate {snap} must divide "
                         f"tick_rate {tick}")
    if hi < lo:
        raise _bad(path, f"invalid default config: max_players {hi} < min_players {lo}")


def load_games(paths: Iterable[str] = DEFAULT_GAMES) -> dict[str, AnyGame]:
    """``{id: definition}`` for ``paths`` in order (the first is the default game).

    ``bad_game`` for an empty list, any path :func:`load_game` refuses, or
    two paths defining the same id (the message names both).
    """
    if isinstance(paths, str):
        raise _bad(paths, "GAMES must be a list of dotted paths, not one string")
    games: dict[str, AnyGame] = {}
    origin: dict[str, str] = {}
    for path in paths:
        definition = load_game(path)
        gid = definition.info.id
        if gid in games:
            raise _bad(path, f"duplicate game id {gid!r} (also defined by {origin[gid]!r})")
        games[gid] = definition
        origin[gid] = path
    if not games:
        raise EngineError(ErrorCode.BAD_GAME, "GAMES names no game")
    return games


def get_game(games: dict[str, AnyGame], game_id: str | None = None) -> AnyGame:
    """The game ``game_id`` (None: the default, the first); ``unknown_game`` otherwise."""
    if game_id is None:
        return next(iter(games.values()))
    definition = games.get(game_id)
    if definition is None:
        raise EngineError(
            ErrorCode.UNKNOWN_GAME,
            f"unknown game {str(game_id)[:32]!r}; this server runs {', '.join(games)}",
        )
    return definition
