"""The engine stays pure: no Django, Channels, asyncio, clocks or global randomness."""

from __future__ import annotations

import ast
import importlib
import pathlib

import engine

FORBIDDEN = {"django", "channels", "asyncio", "daphne", "time", "datetime", "threading"}
ALLOWED_THIRD_PARTY = {"msgpack", "pydantic"}
TEST_KIT = "testing.py"
"""engine/testing.py, the game authors' test kit, may also use hypothesis (a test
dependency): the runtime never imports it."""
TEST_KIT_EXTRA = {"hypothesis"}
ENGINE_DIR = pathlib.Path(engine.__file__).parent


def _modules() -> list[pathlib.Path]:
    return sorted(ENGINE_DIR.rglob("*.py"))


def test_every_engine_module_imports() -> None:
    for path in _modules():
        rel = path.relative_to(ENGINE_DIR.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        importlib.import_module(name)


def test_no_forbidden_imports() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            allowed = ALLOWED_THIRD_PARTY | (
                TEST_KIT_EXTRA if path == ENGINE_DIR / TEST_KIT else set()
            )
            for name in names:
                top = name.split(".")[0]
                assert top not in FORBIDDEN, f"{path.name} imports {name}"
                assert top in stdlib or top in allowed or top == "engine", (
                    f"{path.name} imports {name}"
                )


def _imports(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_only_the_test_kit_imports_hypothesis() -> None:
    # The exemption above is keyed by path: a module of the same name elsewhere
    # in engine/ gets none.
    kits = [p for p in _modules() if any(n.split(".")[0] == "hypothesis" for n in _imports(p))]
    assert kits == [ENGINE_DIR / TEST_KIT]


def test_game_modules_do_not_import_the_test_kit() -> None:
    for path in _modules():
        assert "engine.testing" not in _imports(path), path


def test_no_module_level_random_calls() -> None:
    # random.Random instances are fine; the module-level functions share global state.
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "random"
            ):
                assert node.attr == "Random", f"{path.name} uses random.{node.attr}"


def test_public_api_reexported() -> None:
    for name in ("Event", "EngineError", "FrameError", "GameDefinition", "Game"):
        assert hasattr(engine, name)
    assert callable(engine.protocol.parse_client_frame)
    assert callable(engine.replay.rebuild)
    # The runtime reaches games through the registry: no arena names but the
    # codec the load-test bots still import.
    for name in ("GameConfig", "Match", "Phase", "PlayerState"):
        assert not hasattr(engine, name), name


def test_protocol_imports_no_game() -> None:
    # engine.protocol is the envelope under every game: it names no game, so no
    # game's inputs module (which extends InputBase) can import it back.
    tree = ast.parse((ENGINE_DIR / "protocol.py").read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            assert name.split(".")[:2] not in (["engine", "arena"], ["engine", "paddle"]), name


def test_the_arena_names_live_in_the_arena_only() -> None:
    # The load tests reach the arena's input model and builder through
    # engine.arena; engine.protocol no longer re-exports them.
    from engine import arena, protocol

    assert engine.codec is arena.codec
    for name in ("InputFrame", "input_frame", "AIM_LIMIT"):
        assert not hasattr(protocol, name), name
    frame = protocol.parse_client_frame(arena.input_frame(1, 0.5, 0, 0, False), arena.InputFrame)
    assert isinstance(frame, arena.InputFrame)
    assert not hasattr(protocol, "NoSuchName")
