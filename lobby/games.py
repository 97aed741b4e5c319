"""The games this server offers: the `GAMES` setting, loaded once through `engine.registry`.

`GAMES` is a list of dotted paths (like `INSTALLED_APPS`; the environment
variable is comma-separated, docs/operations.md); the first game is the
default, the one a room gets when nobody names a game. The lobby and the
runtime reach every game through this module and `engine.game`'s API only,
never by importing a concrete game.

A room of game G runs G's default config with the server's overrides
(`room_config`):

- `TICK_RATE`, `SNAPSHOT_RATE`, `COUNTDOWN_SECONDS`, `MATCH_SECONDS` apply to
  the default game only, and only when set in the environment (unset: the
  game's own values; the arena's are 20, 20, 3 and 180);
- `MAX_PLAYERS_PER_ROOM` caps every game's rooms at
  `min(MAX_PLAYERS_PER_ROOM, the game's max_players)`; set in the
  environment, it is the default game's room size exactly (as before games
  were pluggable).

`check(paths, config)` runs at start-up (gameserver/settings.py): a module
that fails to import, an invalid definition or an invalid resulting config
raises `GameSetupError` naming `GAMES` (or the overriding setting) and the cause.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings

from engine.errors import EngineError
from engine.game import AnyGame
from engine.protocol import ErrorCode
from engine.registry import load_games

_loaded: dict[tuple[str, ...], dict[str, AnyGame]] = {}

_DEFAULT_GAME_OVERRIDES = (
    ("tick_rate", "tick_rate", "TICK_RATE"),
    ("snapshot_rate", "snapshot_rate", "SNAPSHOT_RATE"),
    ("countdown_seconds", "countdown_s", "COUNTDOWN_SECONDS"),
    ("match_seconds", "match_s", "MATCH_SECONDS"),
)
"""(server setting, config field, environment variable) applied to the default game."""


class GameSetupError(Exception):
    """`GAMES` (or a setting overriding a game's config) cannot be used; the message says why."""


class UnknownGame(EngineError):
    """A request (or a checkpoint) named a game this server does not offer."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNKNOWN_GAME, message)


def load(paths: tuple[str, ...]) -> dict[str, AnyGame]:
    """`{id: definition}` for `paths` (imported once per list); `GameSetupError` naming GAMES."""
    games = _loaded.get(paths)
    if games is None:
        try:
            games = load_games(paths)
        except EngineError as exc:
            raise GameSetupError(f"GAMES={','.join(paths)!r}: {exc.message}") from None
        _loaded[paths] = games
    return games


def definitions() -> dict[str, AnyGame]:
    """The offered games, in `GAMES` order."""
    return load(tuple(settings.GAMES))


def default_id() -> str:
    """The default game's id (the first of `GAMES`)."""
    return next(iter(definitions()))


def get(game_id: str | None = None) -> AnyGame:
    """The game `game_id` (None: the default); `UnknownGame` naming the offered ones."""
    games = definitions()
    if game_id is None:
        return next(iter(games.values()))
    definition = games.get(game_id) if isinstance(game_id, str) else None
    if definition is None:
        shown = str(game_id)[:32]
        raise UnknownGame(f"unknown game {shown!r}; this server offers {', '.join(games)}")
    return definition


def valid_id(game_id: object) -> bool:
    return isinstance(game_id, str) and game_id in definitions()


def _fields(definition: AnyGame) -> set[str]:
    return {f.name for f in dataclasses.fields(definition.config_type)}


def _overrides(definition: AnyGame, is_default: bool, config: Any) -> dict[str, Any]:
    explicit = config.model_fields_set
    fields = _fields(definition)
    values: dict[str, Any] = {}
    if is_default:
        for setting, field, _env in _DEFAULT_GAME_OVERRIDES:
            if setting in explicit and field in fields:
                values[field] = getattr(config, setting)
    own = int(definition.default_config().max_players)
    cap = int(config.max_players_per_room)
    if is_default and "max_players_per_room" in explicit:
        values["max_players"] = cap
    elif cap < own:
        values["max_players"] = cap
    return values


def overrides(game_id: str) -> dict[str, Any]:
    """The config values the server's settings impose on rooms of `game_id` (module docstring)."""
    return _overrides(get(game_id), game_id == default_id(), settings.ARENA)


def max_players(game_id: str) -> int:
    """Seats of a room of `game_id` (its default and its upper bound)."""
    definition = get(game_id)
    return int(overrides(game_id).get("max_players", definition.default_config().max_players))


def room_config(game_id: str) -> Any:
    """The config a new room of `game_id` runs (the game's default config with overrides)."""
    return get(game_id).configure(overrides(game_id))


def describe() -> list[dict[str, Any]]:
    """`GET /api/games`: each offered game's id, name and a room's numbers."""
    rows = []
    for game_id, definition in definitions().items():
        rates = _rates(game_id)
        rows.append({
            "id": game_id,
            "name": definition.info.name,
            "tick_rate": rates[0],
            "snapshot_rate": rates[1],
            "min_players": rates[2],
            "max_players": rates[3],
        })
    return rows


_rates_cache: dict[tuple[str, int], tuple[int, int, int, int]] = {}


def _rates(game_id: str) -> tuple[int, int, int, int]:
    key = (game_id, id(settings.ARENA))
    found = _rates_cache.get(key)
    if found is None:
        config = room_config(game_id)
        found = (int(config.tick_rate), int(config.snapshot_rate), int(config.min_players),
                 int(config.max_players))
        if len(_rates_cache) > 64:
            _rates_cache.clear()
        _rates_cache[key] = found
    return found


def rates(game_id: str) -> tuple[int, int]:
    """`(tick_rate, snapshot_rate)` of a room of `game_id` (the `welcome` frame's)."""
    tick, snap, _lo, _hi = _rates(game_id)
    return tick, snap


def all_phases() -> tuple[str, ...]:
    """Every offered game's phase names, in order, without repeats (metrics labels)."""
    seen: dict[str, None] = {}
    for definition in definitions().values():
        seen.update(dict.fromkeys(definition.info.phases))
    return tuple(seen)


def check(paths: list[str], config: Any) -> dict[str, AnyGame]:
    """Start-up: load `paths` and build every game's room config; `GameSetupError` if any fails."""
    games = load(tuple(paths))
    default = next(iter(games))
    for game_id, definition in games.items():
        try:
            room = definition.configure(_overrides(definition, game_id == default, config))
            tick, snap = room.tick_rate, room.snapshot_rate
            if snap > tick or tick % snap:
                raise EngineError(ErrorCode.BAD_CONFIG,
                                  f"snapshot_rate {snap} must divide tick_rate {tick}")
        except EngineError as exc:
            names = [env for setting, field, env in _DEFAULT_GAME_OVERRIDES
                     if setting in config.model_fields_set and game_id == default]
            if "max_players_per_room" in config.model_fields_set:
                names.append("MAX_PLAYERS_PER_ROOM")
            blame = "/".join(names) or "GAMES"
            raise GameSetupError(
                f"{blame}: the rooms of game {game_id!r} would run an invalid config: "
                f"{exc.message}"
            ) from None
    return games
