"""engine.snapcodec: the schema-driven codec (the paddle game's) against the arena's own."""

from __future__ import annotations

import math
import random

import pytest

from engine import EngineError
from engine.arena import GameConfig, InputFrame, Match, codec
from engine.snapcodec import Collection, SchemaCodec, SnapshotSchema

ARENA_SCHEMA = SnapshotSchema(
    collections=(
        Collection("players", movable=3, wrap=2, modulus=codec.AIM_STEPS),
        Collection("projectiles"),
        Collection("pickups"),
    ),
    static=("map",),
)


def arena_snapshots(ticks: int) -> list[dict[str, object]]:
    m = Match(GameConfig(min_players=2, countdown_s=0.2, pickup_interval_s=0.5), 3)
    rng = random.Random(4)
    for pid in range(1, 7):
        m.add_player(pid, f"p{pid}")
    snaps = []
    for tick in range(ticks):
        for pid in m.player_ids():
            m.submit(pid, InputFrame(seq=tick, mx=rng.uniform(-1, 1), my=rng.uniform(-1, 1),
                                     aim=rng.uniform(-math.pi, math.pi), fire=rng.random() < 0.3))
        if tick == 100:
            m.remove_player(3)
        m.step()
        snaps.append(m.snapshot())
    return snaps


def test_the_arena_schema_reproduces_the_arena_codec_byte_for_byte() -> None:
    generic = SchemaCodec(ARENA_SCHEMA)
    snaps = arena_snapshots(250)
    assert any(s["projectiles"] for s in snaps) and any(s["pickups"] for s in snaps)
    for gap in (1, 7):
        for prev, cur in zip(snaps, snaps[gap:], strict=False):
            delta = codec.diff(prev, cur)
            assert generic.encode(generic.diff(prev, cur)) == codec.encode(delta)
            assert generic.apply(generic.decode(codec.encode(delta)), prev) == cur
            assert codec.apply(delta, prev) == cur


def test_wrapped_fields_take_the_short_way_round() -> None:
    c = SchemaCodec(SnapshotSchema((Collection("e", movable=2, wrap=1, modulus=256),)))
    a = {"t": "snap", "tick": 1, "acks": {}, "full": True, "phase": "x", "e": {1: [0, 250, 9]}}
    b = {**a, "tick": 2, "e": {1: [5, 3, 9], 2: [1, 1, 1]}}
    delta = c.diff(a, b)
    assert delta["e"] == {"m": {1: [5, 9]}, "a": {2: [1, 1, 1]}}
    assert "phase" not in delta
    assert c.apply(delta, a) == b
    back = c.diff(b, a)
    assert back["e"] == {"m": {1: [-5, -9]}, "r": [2]}
    assert c.apply(back, b) == a


def test_static_keys_stay_out_of_deltas_and_are_copied() -> None:
    c = SchemaCodec(SnapshotSchema((Collection("e"),), static=("map",)))
    a = {"t": "snap", "tick": 1, "acks": {}, "full": True, "phase": "x", "phase_ends": 0,
         "map": [1, [2, 3]], "e": {}}
    b = {**a, "tick": 2}
    delta = c.diff(a, b)
    assert "map" not in delta and "e" not in delta
    out = c.apply(delta, a)
    assert out == b
    out["map"][1].append(4)
    assert a["map"] == [1, [2, 3]]


def test_invalid_schemas() -> None:
    for bad in (
        lambda: Collection("e", movable=-1),
        lambda: Collection("e", movable=1, wrap=1, modulus=256),
        lambda: Collection("e", movable=2, wrap=0, modulus=1),
        lambda: SchemaCodec(SnapshotSchema((Collection("e"), Collection("e")))),
        lambda: SchemaCodec(SnapshotSchema((Collection("tick"),))),
    ):
        with pytest.raises(EngineError) as err:
            bad()
        assert err.value.code == "bad_config"
