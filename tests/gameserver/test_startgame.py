"""`manage.py startgame`: a generated game passes its own tests and the kit, and plays.

The scaffold is generated into a temporary directory (never into the
repository), imported from there, checked with `engine.testing`, run through
its own generated tests in a subprocess, registered in `GAMES` and played by
two sockets through the real ASGI application.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from engine import registry, testing
from tests.gameserver.game_client import GameClient, new_guest

NAME = "dots_scaffold"


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("games")
    call_command("startgame", NAME, str(root), client_dir=str(root / "js"), stdout=None)
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for module in [m for m in sys.modules if m == NAME or m.startswith(f"{NAME}.")]:
        del sys.modules[module]


def test_the_scaffold_has_every_part(scaffold: Path) -> None:
    package = scaffold / NAME
    assert sorted(p.name for p in package.iterdir() if p.suffix == ".py") == [
        "__init__.py", "config.py", "inputs.py", "match.py", f"test_{NAME}.py"]
    client = (scaffold / "js" / f"{NAME}.js").read_text()
    for export in ("decode", "predict", "render", "keys"):
        assert f"export function {export}(" in client
    assert "__NAME__" not in (package / "match.py").read_text()


def test_the_scaffold_loads_and_passes_the_kit(scaffold: Path) -> None:
    definition = registry.load_game(NAME)
    assert definition.info.id == NAME and definition.info.name == "Dots Scaffold"
    config = definition.configure({"match_s": 2.0, "ended_s": 0.2, "score_limit": 2,
                                   "field_size": 200, "speed": 400.0})
    # One list of actions per tick: two players join, move, reconnect, play on;
    # staff start/end calls; one leaves.
    move: list[testing.Action] = [("input", 1, {"dx": 1, "dy": 0}),
                                  ("input", 2, {"dx": 0, "dy": -1})]
    script: testing.Script = [
        [("join", 1, {}), ("join", 2, {})], *[move] * 30, [("reset", 1, {})],
        [("input", 1, {"dx": -1, "dy": 1}), ("stale", 1, {"dx": 0, "dy": 0})], *[[]] * 40,
        [("end", 0, {})], [("start", 0, {})], *[[]] * 5, [("leave", 2, {})], *[[]] * 10,
    ]
    testing.check_determinism(definition, config, 7, script)
    testing.check_replay(definition, config, 7, script)
    testing.check_checkpoint(definition, config, 7, script, 25)
    testing.check_codec(definition, config, 7, script)
    testing.check_api(definition, config, 7, script)


def test_the_scaffolds_own_tests_pass_as_generated(scaffold: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django",
         str(scaffold / NAME)],
        cwd=scaffold, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Dots", "not a valid game name"),
        ("1dots", "not a valid game name"),
        ("dots-game", "not a valid game name"),
        ("x" * 40, "not a valid game name"),
        ("class", "keyword"),
        ("json", "clashes with an existing Python module"),
        ("engine", "clashes with an existing Python module"),
    ],
)
def test_bad_names_are_refused_clearly(tmp_path: Path, name: str, why: str) -> None:
    with pytest.raises(CommandError, match=why):
        call_command("startgame", name, str(tmp_path), client_dir=str(tmp_path / "js"))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "dots_taken").mkdir()
    with pytest.raises(CommandError, match="already exists"):
        call_command("startgame", "dots_taken", str(tmp_path), client_dir=str(tmp_path / "js"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("startgame", "dots_nowhere", str(tmp_path / "missing"))


@pytest.mark.django_db(transaction=True)
async def test_registered_in_games_it_plays(scaffold: Path, settings: Any) -> None:
    settings.GAMES = ["engine.arena", "engine.paddle", NAME]
    from lobby import games

    codec = games.get(NAME).codec
    sockets = []
    for name in ("ann", "bob"):
        user_id, token = await new_guest(name)
        client = GameClient("dots-room", token, f"game={NAME}", codec=codec)
        welcome = await client.connect()
        assert (welcome["game"], welcome["tick_rate"], welcome["snapshot_rate"]) == (NAME, 20, 10)
        sockets.append((client, user_id))
    (a, a_id), (b, b_id) = sockets
    await a.until(lambda f: f["t"] == "snap" and b_id in a.world["dots"])
    await b.until(lambda f: f["t"] == "snap" and a_id in b.world["dots"])
    assert b.state is not None and a.state is not None
    a_x, b_y = b.state["dots"][a_id][0], a.state["dots"][b_id][1]
    going = -1 if a_x > 500 else 1
    rising = -1 if b_y > 500 else 1
    for seq in range(1, 6):
        await a.send({"t": "input", "seq": seq, "dx": going, "dy": 0})
        await b.send({"t": "input", "seq": seq, "dx": 0, "dy": rising})
    await b.until(lambda f: f["t"] == "snap" and (b.world["dots"][a_id][0] - a_x) * going > 0)
    await a.until(lambda f: f["t"] == "snap" and (a.world["dots"][b_id][1] - b_y) * rising > 0)
    await a.send({"t": "input", "seq": 9, "mx": 1.0, "my": 0.0, "aim": 0.0, "fire": False})
    error = await a.error()
    assert error["code"] == "invalid" and error["message"].startswith("dx:"), error
    await a.disconnect()
    await b.disconnect()
