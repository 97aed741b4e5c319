"""engine.registry: dotted paths to game definitions, with errors that name the path."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import pathlib
import textwrap
from typing import Any

import pytest

from engine import EngineError
from engine.arena import GAME as ARENA
from engine.game import GameInfo
from engine.paddle import GAME as PADDLE
from engine.registry import DEFAULT_GAMES, get_game, load_game, load_games, validate

_packages = itertools.count()


@pytest.fixture
def games_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A fresh package on sys.path for throwaway game modules."""
    pkg = tmp_path / f"kit_games_{next(_packages)}"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    return pkg


def write(pkg: pathlib.Path, name: str, source: str) -> str:
    (pkg / f"{name}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return f"{pkg.name}.{name}"


def refused(paths: list[str] | str) -> str:
    with pytest.raises(EngineError) as err:
        if isinstance(paths, str):
            load_game(paths)
        else:
            load_games(paths)
    assert err.value.code == "bad_game"
    return err.value.message


def test_default_games_arena_first() -> None:
    games = load_games()
    assert list(games) == ["arena", "paddle"] and DEFAULT_GAMES[0] == "engine.arena"
    assert games["arena"] is ARENA and games["paddle"] is PADDLE
    assert get_game(games) is ARENA and get_game(games, "paddle") is PADDLE
    with pytest.raises(EngineError) as err:
        get_game(games, "chess")
    assert err.value.code == "unknown_game" and "arena, paddle" in err.value.message


def test_a_module_or_an_attribute() -> None:
    assert load_game("engine.paddle") is PADDLE
    assert load_game("engine.paddle.GAME") is PADDLE


def test_bad_paths_are_named() -> None:
    assert "'no_such_pkg.games'" in refused("no_such_pkg.games")
    assert "No module named 'no_such_pkg'" in refused("no_such_pkg.games")
    assert "has no attribute 'chess'" in refused("engine.chess")
    assert "no GAME attribute" in refused("engine.errors")
    assert "expected a GameDefinition, got SnapshotSchema" in refused("engine.paddle.SCHEMA")
    assert "absolute dotted path" in refused(".relative")
    assert "names no game" in refused([])
    with pytest.raises(EngineError) as err:
        load_games("engine.arena")  # a string where a list belongs
    assert err.value.code == "bad_game" and "not one string" in err.value.message


def test_a_module_that_fails_to_import(games_dir: pathlib.Path) -> None:
    path = write(games_dir, "broken", """
        raise RuntimeError("missing license key")
    """)
    message = refused([path])
    assert f"game {path!r}" in message
    assert "RuntimeError: missing license key" in message
    missing = write(games_dir, "needs_dep", "import not_installed_anywhere\n")
    assert "No module named 'not_installed_anywhere'" in refused(missing)
    syntax = write(games_dir, "typo", "GAME = (\n")
    assert "SyntaxError" in refused(syntax)


def test_invalid_default_configs(games_dir: pathlib.Path) -> None:
    template = """
        import dataclasses
        from dataclasses import dataclass
        from engine.paddle import GAME as PADDLE

        @dataclass(frozen=True)
        class Config:
            tick_rate: int = {tick}
            snapshot_rate: int = {snap}
            min_players: int = {lo}
            max_players: int = {hi}

            def to_dict(self):
                return dataclasses.asdict(self)

        GAME = dataclasses.replace(PADDLE, config_type=Config)
    """
    cases = {
        "rates": ((60, 25, 2, 4), "snapshot_rate 25 must divide tick_rate 60"),
        "faster": ((20, 40, 2, 4), "snapshot_rate 40 must divide tick_rate 20"),
        "players": ((60, 30, 3, 2), "max_players 2 < min_players 3"),
        "zero": ((0, 30, 2, 4), "tick_rate must be an int >= 1"),
    }
    for name, ((tick, snap, lo, hi), why) in cases.items():
        path = write(games_dir, name, template.format(tick=tick, snap=snap, lo=lo, hi=hi))
        message = refused(path)
        assert message.startswith(f"game {path!r}: invalid default config") and why in message
    # A config class that refuses its own defaults.
    path = write(games_dir, "refuses", """
        import dataclasses
        from engine.paddle import GAME as PADDLE, PaddleConfig

        @dataclasses.dataclass(frozen=True)
        class Config(PaddleConfig):
            max_players: int = 6

        GAME = dataclasses.replace(PADDLE, config_type=Config)
    """)
    assert "max_players <= 4" in refused(path)


def test_duplicate_ids_name_both_paths() -> None:
    message = refused(["engine.arena", "engine.paddle", "engine.arena.GAME"])
    assert "duplicate game id 'arena'" in message
    assert "'engine.arena.GAME'" in message and "'engine.arena'" in message


def test_invalid_info_and_parts() -> None:
    # Any: the values are ill-typed on purpose (validate() is what refuses them).
    def problem(**changes: Any) -> str:
        info = dataclasses.replace(PADDLE.info, **{
            k: v for k, v in changes.items() if k in {f.name for f in dataclasses.fields(GameInfo)}
        })
        parts = {k: v for k, v in changes.items() if k not in info.__dict__}
        with pytest.raises(EngineError) as err:
            validate(dataclasses.replace(PADDLE, info=info, **parts), "my.game")
        assert err.value.code == "bad_game" and err.value.message.startswith("game 'my.game'")
        return err.value.message

    assert "id 'Paddle Game'" in problem(id="Paddle Game")
    assert "name" in problem(name=" ")
    assert "version" in problem(version=0)
    assert "phases" in problem(phases=("a", "a"))
    assert "phases" in problem(phases=("waiting", "a_very_long_phase_name"))
    assert "phases" in problem(phases=("Waiting",))
    assert "playing_phase" in problem(playing_phase="running")
    assert "InputBase" in problem(input_model=dict)
    assert "match_end" in problem(event_kinds=frozenset({"phase"}))
    validate(PADDLE)
    validate(ARENA)
