"""The browser client's JS against the Python engine, on the same data.

The engine makes snapshots (full and delta, encoded to msgpack exactly as
the server sends them) and movement traces; `client/tools/crosscheck.mjs`
runs the client's SDK (`sdk/schema.js`, `sdk/prediction.js`) with each game's
plug-in (`games/arena.js` with `games/arena/physics.js`, `games/paddle.js`)
on them under node, and the results must match the engine's. Both games:
the arena and the paddle game.
"""

from __future__ import annotations

import base64
import json
import math
import random
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from engine.arena import GameConfig, InputFrame, Match, codec
from engine.paddle import CODEC as PADDLE_CODEC
from engine.paddle import PaddleConfig, PaddleInput, PaddleMatch
from tests.servers import ROOT, require

CLIENT = ROOT / "client"
SCRIPT = CLIENT / "tools" / "crosscheck.mjs"


def run_js(request: dict[str, Any]) -> Any:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    require((CLIENT / "node_modules" / "@msgpack" / "msgpack").is_dir(), "run npm ci in client/")
    assert node is not None
    done = subprocess.run(
        [node, str(SCRIPT)], input=json.dumps(request).encode(), capture_output=True,
        cwd=CLIENT, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def as_json(value: Any) -> Any:
    """What JSON makes of a Python snapshot (int map keys become strings), as JS sees it."""
    return json.loads(json.dumps(value))


def busy_match(seed: int) -> tuple[list[bytes], list[dict[str, Any]]]:
    """A few hundred ticks of a lively match: encoded frames and the engine's full states."""
    config = GameConfig(
        min_players=2, countdown_s=0.5, match_s=8.0, ended_s=1.0, score_limit=3,
        pickup_interval_s=0.5, respawn_s=0.5, fire_cooldown_s=0.1,
    )
    m = Match(config, seed)
    rng = random.Random(seed)
    seqs: dict[int, int] = {}
    frames: list[bytes] = []
    states: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    names = ["ann", "bob", "cy", "dee", "émile", "李"]
    for tick in range(600):
        if tick in (0, 1, 40, 90):
            pid = len(seqs) + 1
            m.add_player(pid, names[pid - 1])
            seqs[pid] = 0
        if tick == 300 and 2 in seqs:
            m.remove_player(2)
            del seqs[2]
        for pid in list(seqs):
            if rng.random() < 0.9:
                m.submit(pid, InputFrame(
                    seq=seqs[pid], mx=rng.choice([-1.0, 0.0, 1.0, rng.uniform(-1, 1)]),
                    my=rng.choice([-1.0, 0.0, 1.0, rng.uniform(-1, 1)]),
                    aim=rng.uniform(-math.pi, math.pi), fire=rng.random() < 0.5,
                    tick=max(0, m.tick - rng.randrange(4)),
                ))
                seqs[pid] += rng.choice([1, 1, 1, 2])
        m.step()
        full = m.snapshot()
        # A full snapshot now and then (as the server sends on join), deltas otherwise.
        if prev is None or tick % 97 == 0:
            frames.append(codec.encode(full))
        else:
            frames.append(codec.encode(codec.diff(prev, full)))
        states.append(full)
        prev = full
    return frames, states


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_js_applies_engine_snapshots_exactly(seed: int) -> None:
    frames, states = busy_match(seed)
    phases = {s["phase"] for s in states}
    assert {"waiting", "countdown", "playing", "ended"} <= phases  # the trace covers them all
    assert any(s["projectiles"] for s in states) and any(s["pickups"] for s in states)
    got = run_js({"mode": "snapshots", "game": "arena",
                  "frames": [base64.b64encode(f).decode() for f in frames]})
    assert len(got) == len(states)
    for i, (js, py) in enumerate(zip(got, states, strict=True)):
        assert js == as_json(py), f"state differs after frame {i}"


def test_js_movement_matches_the_engine() -> None:
    config = GameConfig(min_players=2)  # one player: stays WAITING, where players move
    m = Match(config, 5)
    m.add_player(1, "solo")
    rng = random.Random(5)
    start = m.player_state(1)
    steps = []
    expected = []
    stick = (0.0, 0.0)
    for seq in range(3000):
        if rng.random() < 0.08:
            stick = rng.choice([(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (1.0, 1.0),
                                (0.0, 0.0), (rng.uniform(-1, 1), rng.uniform(-1, 1))])
        m.submit(1, InputFrame(seq=seq, mx=stick[0], my=stick[1], aim=0.0, fire=False))
        m.step()
        s = m.player_state(1)
        steps.append({"mx": stick[0], "my": stick[1], "boosted": False})
        expected.append((s.x, s.y, s.vx, s.vy))
    walls_hit = sum(1 for x, y, vx, vy in expected if vx == 0 or vy == 0)
    assert walls_hit > 50  # the trace bumps into walls and bounds
    got = run_js({
        "mode": "moves", "config": as_json(config.to_dict()),
        "start": {"x": start.x, "y": start.y, "vx": start.vx, "vy": start.vy}, "steps": steps,
    })
    for i, (js, py) in enumerate(zip(got, expected, strict=True)):
        assert [js["x"], js["y"], js["vx"], js["vy"]] == pytest.approx(list(py), abs=1e-9), i


@pytest.mark.parametrize("latency", [0, 3, 6])
def test_js_prediction_tracks_the_engine_under_latency(latency: int) -> None:
    """Inputs reach the server `latency` ticks late and snapshots come back as late:
    after each reconciliation the predicted position is where the engine will put
    the player once it has applied every input sent so far (within quantization)."""
    config = GameConfig(min_players=2)
    m = Match(config, 9)
    m.add_player(1, "solo")
    rng = random.Random(9)
    start = m.player_state(1)
    inputs: list[dict[str, Any]] = [
        {"seq": i, "mx": rng.choice([-1.0, 0.0, 1.0]), "my": rng.choice([-1.0, 0.0, 1.0])}
        for i in range(400)
    ]
    truth = []  # engine position after input i
    acks = []  # [client input index at arrival, ack, x, y]
    for i, inp in enumerate(inputs):
        m.submit(1, InputFrame(seq=int(inp["seq"]), mx=inp["mx"], my=inp["my"], aim=0.0,
                               fire=False))
        m.step()
        s = m.player_state(1)
        truth.append((s.x, s.y))
        snap = m.snapshot()
        x, y = snap["players"][1][0] / 8, snap["players"][1][1] / 8
        # The server applied input i at this tick; the client sent it `latency` ticks
        # earlier and sees the snapshot `latency` ticks later.
        arrival = i + 2 * latency
        if arrival < len(inputs):
            acks.append([arrival, snap["acks"][1], x, y])
    got = run_js({
        "mode": "predict", "config": as_json(config.to_dict()),
        "start": {"x": start.x, "y": start.y, "vx": 0.0, "vy": 0.0},
        "inputs": inputs, "acks": acks,
    })
    assert len(got) == len(acks) + 1
    for (arrival, _ack, _x, _y), js in zip(acks, got, strict=False):
        tx, ty = truth[arrival]
        assert math.hypot(js["x"] - tx, js["y"] - ty) < 0.25, (arrival, js, (tx, ty))
        assert js["pending"] == 2 * latency


def test_js_defaults_match_game_config() -> None:
    defaults = run_js({"mode": "defaults", "game": "arena"})
    engine = as_json(GameConfig().to_dict())
    names = {f.name for f in fields(GameConfig)}
    for key, value in defaults.items():
        assert key in names, key
        assert value == engine[key], key


def test_script_exists() -> None:
    assert Path(SCRIPT).is_file()


# -- the paddle game ---------------------------------------------------------------


def busy_paddle_match(seed: int) -> tuple[list[bytes], list[dict[str, Any]]]:
    """A lively paddle match (2-4 players joining, one leaving, every phase, serves,
    hits and misses): frames encoded as the server sends them, and the engine's states."""
    config = PaddleConfig(countdown_s=0.5, match_s=6.0, score_limit=3, ended_s=1.0,
                          serve_delay_s=0.3)
    m = PaddleMatch(config, seed)
    rng = random.Random(seed)
    seqs: dict[int, int] = {}
    frames: list[bytes] = []
    states: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    names = ["ann", "bob", "émile", "李"]
    for tick in range(1500):
        if tick in (0, 1, 200, 420):
            pid = len(seqs) + 1 if tick < 420 else 4
            m.add_player(pid, names[pid - 1])
            seqs[pid] = 0
        if tick == 700 and 2 in seqs:
            m.remove_player(2)
            del seqs[2]
        for pid in list(seqs):
            if rng.random() < 0.8:
                m.submit(pid, PaddleInput(seq=seqs[pid], dir=rng.choice([-1, 0, 1])))
                seqs[pid] += rng.choice([1, 1, 2])
        m.step()
        full = m.snapshot()
        # Every other tick, as at 60 Hz ticks and 30 Hz snapshots; a full one now and then.
        if tick % 2:
            continue
        if prev is None or tick % 194 == 0:
            frames.append(PADDLE_CODEC.encode(full))
        else:
            frames.append(PADDLE_CODEC.encode(PADDLE_CODEC.diff(prev, full)))
        states.append(full)
        prev = full
    return frames, states


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_js_applies_paddle_snapshots_exactly(seed: int) -> None:
    frames, states = busy_paddle_match(seed)
    phases = {s["phase"] for s in states}
    assert {"waiting", "countdown", "playing", "ended"} <= phases  # the trace covers them all
    assert any(s["balls"] for s in states)
    assert any(p[2] > 0 for s in states for p in s["paddles"].values())  # points were scored
    assert any(len(s["paddles"]) >= 3 for s in states)
    got = run_js({"mode": "snapshots", "game": "paddle",
                  "frames": [base64.b64encode(f).decode() for f in frames]})
    assert len(got) == len(states)
    for i, (js, py) in enumerate(zip(got, states, strict=True)):
        assert js == as_json(py), f"paddle state differs after frame {i}"


@pytest.mark.parametrize("latency", [0, 2, 5])
def test_js_paddle_prediction_matches_the_engine(latency: int) -> None:
    """Player 3 guards the top side (seats: left, right, top) and moves along x;
    inputs reach the server `latency` ticks late and snapshots come back as late.
    The paddle's rule is integer: after each reconciliation the prediction is
    exactly where the engine puts the paddle once it has applied every input sent."""
    config = PaddleConfig(min_players=4)  # three players: the match waits, paddles move
    m = PaddleMatch(config, 4)
    for pid, name in ((1, "a"), (2, "b"), (3, "c")):
        m.add_player(pid, name)
    start = m.snapshot()
    assert start["paddles"][3][1] == 2  # top side
    rng = random.Random(4)
    inputs = []
    direction = 1
    for seq in range(500):
        if rng.random() < 0.1:
            direction = rng.choice([-1, 0, 1])
        inputs.append({"seq": seq, "dir": direction})
    truth = []
    acks = []
    for i, inp in enumerate(inputs):
        m.submit(3, PaddleInput(seq=inp["seq"], dir=inp["dir"]))
        m.step()
        snap = m.snapshot()
        truth.append(snap["paddles"][3][0])
        arrival = i + 2 * latency
        if arrival < len(inputs):
            acks.append([arrival, snap["acks"][3], snap["paddles"][3][0]])
    assert {1600, 14400} <= set(truth)  # the trace reaches both ends of the side
    got = run_js({
        "mode": "paddle_predict", "config": {}, "player": 3, "start": as_json(start),
        "inputs": inputs, "acks": acks,
    })
    assert len(got) == len(acks)
    for (arrival, _ack, _pos), js in zip(acks, got, strict=True):
        assert js["pos"] == truth[arrival], (arrival, js)
        assert js["pending"] == 2 * latency


def test_js_paddle_defaults_match_paddle_config() -> None:
    defaults = run_js({"mode": "defaults", "game": "paddle"})
    engine = as_json(PaddleConfig().to_dict())
    for key, value in defaults.items():
        assert key in engine, key
        assert value == engine[key], key
