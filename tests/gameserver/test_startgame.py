"""`manage.py startgame`: a generated game passes its own tests and the kit, and plays.

The scaffold is generated into a temporary directory (never into the
repository), imported from there, checked with `engine.testing`, run through
its own generated tests in a subprocess, registered in `GAMES` and played by
two sockets through the real ASGI application.
"""

from __future__ import annotations

import importlib
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from engine import registry, testing
from tests.gameserver.game_client import GameClient, new_guest
from tests.servers import ROOT, require

NAME = "dots_scaffold"
SDK = ROOT / "client" / "static" / "client" / "js" / "sdk"


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("games")
    # The client module goes to js/games/ next to a copy of the SDK, as in client/static/client/js/.
    call_command("startgame", NAME, str(root), client_dir=str(root / "js" / "games"), stdout=None)
    shutil.copytree(SDK, root / "js" / "sdk")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for module in [m for m in sys.modules if m == NAME or m.startswith(f"{NAME}.")]:
        del sys.modules[module]


def test_the_scaffold_has_every_part(scaffold: Path) -> None:
    package = scaffold / NAME
    assert sorted(p.name for p in package.iterdir() if p.suffix == ".py") == [
        "__init__.py", "config.py", "inputs.py", "match.py", f"test_{NAME}.py"]
    client = (scaffold / "js" / "games" / f"{NAME}.js").read_text()
    assert "export default game;" in client and f'id: "{NAME}"' in client
    for text in (client, (package / "match.py").read_text()):
        assert "__NAME__" not in text and "__CAMEL__" not in text and "__TITLE__" not in text


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


CHECK_PLUGIN = """
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { checkPlugin } from "./sdk/plugin.js";
import { applyDelta } from "./sdk/schema.js";
import { GameSession } from "./sdk/session.js";

const data = JSON.parse(readFileSync(0, "utf8"));
const game = checkPlugin((await import(`./games/${data.name}.js`)).default);
assert.equal(game.id, data.name);
assert.equal(typeof game.name, "string");
for (const [key, value] of Object.entries(game.defaults)) {
  assert.equal(value, data.config[key], key);
}
let config = { ...game.defaults };
if (game.configFromSnapshot) config = game.configFromSnapshot(config, data.fulls[0]);

// The engine's snapshots, full then deltas, decode to its full states.
let state = null;
data.frames.forEach((frame, i) => {
  state = game.schema ? applyDelta(game.schema, frame, state) : game.applySnapshot(frame, state);
  assert.deepEqual(state, data.fulls[i], `snapshot ${i}`);
});

// Prediction: one tick of the engine's step for the own player.
for (const { before, input, after } of data.steps) {
  const own = game.ownState(before, data.me, config);
  const expected = game.ownState(after, data.me, config);
  assert.ok(own && expected, "ownState of a player");
  const predicted = game.predict(own, input, config);
  assert.deepEqual(game.ownPosition(predicted), game.ownPosition(expected), JSON.stringify(input));
}
assert.equal(game.ownState(data.fulls[0], 999, config), null);

// Drawing, on a canvas that records what is drawn.
const drawn = [];
const record = (key) => (...args) => { drawn.push([key, ...args]); };
const ctx = new Proxy({}, {
  get: (target, key) => (key in target ? target[key] : record(key)),
  set: (target, key, value) => { target[key] = value; return true; },
});
const n = data.fulls.length;
const last = data.fulls[n - 1];
const pair = { a: data.fulls[n - 2], b: last, t: 0.5, tick: last.tick - 0.5 };
const view = game.interpolate(pair, config);
assert.deepEqual(Object.keys(view.players).sort(), Object.keys(last.dots).sort());
for (const p of Object.values(view.players)) {
  assert.ok(Number.isFinite(p.x) && Number.isFinite(p.y) && typeof p.name === "string");
}
const ownState = game.ownState(last, data.me, config);
const size = game.size(config);
assert.ok(size.w > 0 && size.h > 0);
const cases = [[last, data.me], [{ ...last, phase: "ended" }, null],
  [{ ...last, phase: "waiting" }, data.me]];
for (const [full, me] of cases) {
  const own = me === null ? null : game.ownPosition(ownState);
  game.render(ctx, { view, own, ownState: me === null ? null : ownState, input: null, full, me,
    tick: last.tick, scale: 0.5, config, results: [] });
}
const texts = drawn.filter(([op]) => op === "fillText").map(([, text]) => String(text));
for (const dot of Object.values(last.dots)) {
  assert.ok(texts.some((t) => t.includes(dot[3])), `no name ${dot[3]} drawn`);
}

const board = game.scoreboard(last, config);
const names = Object.values(last.dots).map((d) => d[3]).sort();
assert.deepEqual(board.rows.map((r) => r.name).sort(), names);
for (const row of board.rows) assert.equal(row.cells.length, board.columns.length);
for (const e of game.describeEvent ? data.events : []) {
  assert.equal(typeof game.describeEvent(e, last), "string");
}

// Input: the keys it claims to use, and what it sends for some of them (checked by Python).
assert.ok(game.keys.length && game.keys.every((k) => typeof k === "string"));
assert.ok(game.controls.every((line) => line.length === 2));
const controls = (keys) => ({ keys: new Set(keys), pointer: null, pointerDown: false,
  frameMs: 16 });
const inputs = [[], ["KeyD"], ["ArrowLeft", "ArrowUp"], ["KeyS", "KeyA"], game.keys].map(
  (keys) => game.input(controls(keys), null, ownState, config));

// The SDK's session plays it: welcome, then the engine's frames; inputs numbered.
const session = new GameSession(game);
session.handleFrame({ t: "welcome", player_id: data.me, room: "r", game: data.name,
  tick_rate: data.config.tick_rate, snapshot_rate: data.config.snapshot_rate }, 0);
data.frames.forEach((frame, i) => session.handleFrame(frame, 50 * (i + 1)));
assert.deepEqual(session.full, last);
const { seq, ...sent } = session.nextInput(inputs[1]);
assert.ok(Number.isInteger(seq));
assert.deepEqual(sent, { t: "input", dx: 1, dy: 0 });
assert.equal(session.scoreboard().rows.length, Object.keys(last.dots).length);
process.stdout.write(JSON.stringify({ inputs }));
"""


def _jsonable(value: Any) -> Any:
    """As msgpack decodes it in the browser: integer map keys become strings."""
    return json.loads(json.dumps(value))


def test_the_client_module_is_a_plugin_that_follows_the_engine(scaffold: Path) -> None:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    assert node is not None
    camel = "".join(part.capitalize() for part in NAME.split("_"))
    match_mod = importlib.import_module(f"{NAME}.match")
    config = getattr(importlib.import_module(f"{NAME}.config"), f"{camel}Config")()
    input_type = getattr(importlib.import_module(f"{NAME}.inputs"), f"{camel}Input")
    match = getattr(match_mod, f"{camel}Match")(config, 11)
    match.add_player(1, "ann")
    match.add_player(2, "bob <b>")
    events = [e for _ in range(3) for e in match.step()]
    fulls, steps, seq = [match.snapshot()], [], 0
    moves = ([(1, 0)] * 8 + [(0, 1)] * 5 + [(-1, -1)] * 40 + [(1, 1)] * 30 + [(0, 0)] * 3
             + [(1, -1)] * 9)
    for dx, dy in moves:
        seq += 1
        match.submit(1, input_type.model_validate({"t": "input", "seq": seq, "dx": dx, "dy": dy}))
        match.submit(2, input_type.model_validate({"t": "input", "seq": seq, "dx": -dx, "dy": dy}))
        events += match.step()
        fulls.append(match.snapshot())
        steps.append({"before": fulls[-2], "input": {"dx": dx, "dy": dy}, "after": fulls[-1]})
    frames = [fulls[0]] + [match_mod.CODEC.diff(a, b) for a, b in itertools.pairwise(fulls)]
    request = {
        "name": NAME, "me": 1, "config": config.to_dict(), "frames": frames, "fulls": fulls,
        "steps": steps, "events": [e.to_wire() for e in events],
    }
    script = scaffold / "js" / "check_plugin.mjs"
    script.write_text(CHECK_PLUGIN)
    done = subprocess.run([node, str(script)], input=json.dumps(_jsonable(request)),
                          capture_output=True, text=True, timeout=120, cwd=scaffold / "js")
    assert done.returncode == 0, done.stderr[-3000:]
    inputs = json.loads(done.stdout)["inputs"]
    assert inputs[:4] == [{"dx": 0, "dy": 0}, {"dx": 1, "dy": 0}, {"dx": -1, "dy": -1},
                          {"dx": -1, "dy": 1}]
    for seq, fields in enumerate(inputs, 1):
        input_type.model_validate({"t": "input", "seq": seq, **fields})


def test_the_play_page_offers_the_registered_game(client: Any, settings: Any,
                                                  scaffold: Path) -> None:
    settings.GAMES = ["engine.arena", "engine.paddle", NAME]
    page = client.get("/play/dots-room/").content.decode()
    assert (f'<script id="offered-games" type="application/json">'
            f'["arena", "paddle", "{NAME}"]</script>') in page
    settings.GAMES = ["engine.arena", "engine.paddle"]
    page = client.get("/play/dots-room/").content.decode()
    assert '["arena", "paddle"]</script>' in page and NAME not in page
