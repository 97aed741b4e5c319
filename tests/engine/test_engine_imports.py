"""The engine stays pure: no Django, Channels, asyncio, clocks or global randomness."""

from __future__ import annotations

import ast
import importlib
import pathlib

import engine

FORBIDDEN = {"django", "channels", "asyncio", "daphne", "time", "datetime", "threading"}
ALLOWED_THIRD_PARTY = {"msgpack", "pydantic"}
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
            for name in names:
                top = name.split(".")[0]
                assert top not in FORBIDDEN, f"{path.name} imports {name}"
                assert top in stdlib or top in ALLOWED_THIRD_PARTY or top == "engine", (
                    f"{path.name} imports {name}"
                )


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
    for name in ("GameConfig", "Match", "Phase", "Event", "EngineError", "FrameError"):
        assert hasattr(engine, name)
    assert callable(engine.codec.diff) and callable(engine.protocol.parse_client_frame)
    assert callable(engine.replay.rebuild)
