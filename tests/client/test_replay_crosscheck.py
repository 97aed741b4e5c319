"""The replay viewer's timeline (client `sdk/playback.js`) on documents the engine built.

A match is stepped live (its state after every step kept); its playback
document (`engine.playback.build_playback`), msgpack-encoded as the server
may send it, is seeked by the client's `Playback` under node
(`client/tools/crosscheck.mjs`, mode `playback`), forward, backward and out
of range. Each seek must show the live state of the frame at or before the
target, reached from the keyframe before it (or from the state shown just
before, when playing forward), with the game's scoreboard of that state.
"""

from __future__ import annotations

import base64
from typing import Any

import msgpack
import pytest

from engine.arena import GAME as ARENA
from engine.game import AnyGame
from engine.paddle import GAME as PADDLE
from engine.playback import build_playback
from tests.client.test_client_engine_crosscheck import as_json, run_js
from tests.engine.test_playback import (
    ARENA_CONFIG,
    PADDLE_CONFIG,
    Actions,
    arena_fight,
    paddle_rally,
    play,
)


def arena_board(state: dict[str, Any]) -> list[dict[str, Any]]:
    """games/arena.js scoreboard: score desc, deaths asc, id asc; cells score, kills, deaths."""
    rows = sorted(state["players"].items(), key=lambda kv: (-kv[1][7], kv[1][6], kv[0]))
    return [{"id": pid, "name": p[8], "cells": [p[7], p[5], p[6]]} for pid, p in rows]


def paddle_board(state: dict[str, Any]) -> list[dict[str, Any]]:
    """games/paddle.js scoreboard: score desc, misses asc, id asc; cells side, score, misses."""
    sides = ["left", "right", "top", "bottom"]
    rows = sorted(state["paddles"].items(), key=lambda kv: (-kv[1][2], kv[1][3], kv[0]))
    return [{"id": pid, "name": p[4], "cells": [sides[p[1]], p[2], p[3]]} for pid, p in rows]


@pytest.mark.parametrize(("definition", "config", "actions", "ticks", "board"), [
    (ARENA, ARENA_CONFIG, arena_fight, 160, arena_board),
    (PADDLE, PADDLE_CONFIG, paddle_rally, 260, paddle_board),
])
def test_the_client_seeks_to_the_live_state_and_its_scoreboard(
    definition: AnyGame, config: Any, actions: Actions, ticks: int, board: Any
) -> None:
    live = play(definition, config, 21, ticks, actions)
    doc = build_playback(definition, config, 21, list(live.match.input_log), ticks,
                         match_id=4, room="x", keyframe_seconds=1)
    frame_ticks = [f["tick"] for f in doc["frames"]]
    every = doc["tick_rate"] // doc["snapshot_rate"]
    per_key = doc["keyframe_interval"] // every
    middle = (doc["first_tick"] + doc["last_tick"]) // 2
    seeks = [middle, doc["last_tick"], middle + 1, doc["first_tick"], -5, 10**6,
             *range(middle + 2, middle + 2 + 4 * every, every)]
    packed = msgpack.packb(doc, use_bin_type=True)
    shown = run_js({"mode": "playback", "document": base64.b64encode(packed).decode(),
                    "seeks": seeks})
    assert len(shown) == len(seeks)
    for target, got in zip(seeks, shown, strict=True):
        clamped = min(max(target, doc["first_tick"]), doc["last_tick"])
        index = max(i for i, t in enumerate(frame_ticks) if t <= clamped)
        tick = frame_ticks[index]
        assert got["tick"] == tick, f"seek to {target}"
        assert got["state"] == as_json(live.states[tick]), f"state at tick {tick}"
        assert got["scoreboard"]["rows"] == as_json(board(live.states[tick])), f"board at {tick}"
        assert got["keyframe"] == index - index % per_key
        assert got["applied"] <= index - got["keyframe"] < per_key
    # Played forward frame by frame: one delta each, from the state shown before.
    assert [g["applied"] for g in shown[-3:]] == [1, 1, 1]
    # The scoreboard of the middle is not the end's (the match went on).
    assert shown[0]["scoreboard"] != shown[1]["scoreboard"]
