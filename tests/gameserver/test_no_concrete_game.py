"""The runtime and the lobby reach games through the Game API and the registry only.

Every module under gameserver/ and lobby/ is parsed; an import of a concrete
game's package (any package under engine/: engine.arena, engine.paddle, a new
one) or of an arena name through `engine` or `engine.protocol` (engine/__init__.py
still re-exports `codec` for the load-test bots; engine.protocol used to answer
`InputFrame`, `input_frame`, `AIM_LIMIT` and must not again) fails this test,
naming the file and line.
"""

from __future__ import annotations

import ast

import pytest

from tests.servers import ROOT

ENGINE = ROOT / "engine"
CONCRETE_GAMES = sorted(
    p.name for p in ENGINE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
)
ARENA_REEXPORTS = {"codec", "Match", "GameConfig", "Phase", "PlayerState", "InputFrame",
                   "input_frame", "AIM_LIMIT"}
"""Arena names that `engine` re-exports or once did (`engine.protocol` no longer does)."""


def concrete_imports(source: str, filename: str = "<source>") -> list[str]:
    """`file:line module` for every import of a concrete game in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in {"engine", "engine.protocol"}:
                names = [f"{node.module}.{alias.name}" for alias in node.names
                         if alias.name in CONCRETE_GAMES or alias.name in ARENA_REEXPORTS]
            else:
                names = [node.module]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            # `protocol.InputFrame`, `engine.codec`: the arena through a re-export.
            if node.value.id in {"protocol", "engine"} and node.attr in ARENA_REEXPORTS:
                names = [f"{node.value.id}.{node.attr}"]
        for name in names:
            parts = name.split(".")
            if (parts[0] == "engine" and len(parts) > 1 and parts[1] in CONCRETE_GAMES) or (
                name in {f"engine.{n}" for n in ARENA_REEXPORTS}
                | {f"engine.protocol.{n}" for n in ARENA_REEXPORTS}
                | {f"protocol.{n}" for n in ARENA_REEXPORTS}
            ):
                found.append(f"{filename}:{getattr(node, 'lineno', 0)} {name}")
    return found


def test_there_are_concrete_games_to_look_for() -> None:
    assert {"arena", "paddle"} <= set(CONCRETE_GAMES)


@pytest.mark.parametrize("package", ["gameserver", "lobby"])
def test_runtime_and_lobby_import_no_concrete_game(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert len(files) > 10
    found = [hit for path in files
             for hit in concrete_imports(path.read_text(), str(path.relative_to(ROOT)))]
    assert not found, f"concrete games imported: {found}"


@pytest.mark.parametrize(
    "source",
    [
        "import engine.arena",
        "from engine.paddle import GAME",
        "from engine.arena.codec import diff",
        "from engine import arena",
        "from engine import codec, protocol",
        "from engine import Match",
        "from engine.protocol import InputFrame",
        "from engine import protocol\nx = protocol.InputFrame",
        "def f():\n    from engine.paddle.match import PaddleMatch",
    ],
)
def test_the_check_catches_each_way_of_importing_a_game(source: str) -> None:
    assert concrete_imports(source)


def test_the_check_lets_the_api_through() -> None:
    source = (
        "from engine import protocol\nfrom engine.game import AnyGame\n"
        "from engine.registry import load_games\nfrom engine.errors import EngineError\n"
        "from engine.protocol import InputBase, PingFrame\nx = protocol.welcome\n"
    )
    assert concrete_imports(source) == []
