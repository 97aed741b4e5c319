"""Snapshot codec: full/delta round trips, immutability, compactness."""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.arena import Match, codec
from tests.engine.engine_helpers import Driver, config

ids = st.integers(min_value=0, max_value=12) | st.integers(min_value=0, max_value=2**40)
wire_int = st.integers(min_value=-(2**31), max_value=2**31)


def player() -> st.SearchStrategy[list[Any]]:
    return st.tuples(
        st.integers(0, 12800), st.integers(0, 8000), st.integers(0, 255),
        st.integers(0, 100), st.integers(0, 3), st.integers(0, 50), st.integers(0, 50),
        st.integers(0, 50), st.text(max_size=24),
    ).map(list)  # fmt: skip


def snapshots() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "t": st.just("snap"),
            "tick": st.integers(0, 2**40),
            "acks": st.dictionaries(ids, st.integers(-1, 2**53 - 1), max_size=6),
            "full": st.just(True),
            "phase": st.sampled_from(["waiting", "countdown", "playing", "ended"]),
            "phase_ends": st.integers(0, 2**40),
            "map": st.just([1600, 1000, [[1, 2, 3, 4]]]),
            "players": st.dictionaries(ids, player(), max_size=6),
            "projectiles": st.dictionaries(ids, st.lists(wire_int, min_size=6, max_size=6)),
            "pickups": st.dictionaries(ids, st.lists(wire_int, min_size=3, max_size=3)),
        }
    )


@settings(max_examples=150, deadline=None)
@given(snapshots(), snapshots())
def test_delta_round_trip(a: dict[str, Any], b: dict[str, Any]) -> None:
    a_copy, b_copy = copy.deepcopy(a), copy.deepcopy(b)
    delta = codec.diff(a, b)
    assert delta["full"] is False and delta["tick"] == b["tick"] and delta["acks"] == b["acks"]
    assert "map" not in delta
    out = codec.apply(codec.decode(codec.encode(delta)), a)
    assert out == b
    assert codec.decode(codec.encode(out)) == b
    assert a == a_copy and b == b_copy  # nothing mutated
    out["players"].clear()
    out["map"][2].clear()
    assert a == a_copy and b == b_copy


@settings(max_examples=100, deadline=None)
@given(snapshots())
def test_full_round_trip(a: dict[str, Any]) -> None:
    assert codec.decode(codec.encode(a)) == a
    assert codec.apply(codec.decode(codec.encode(a)), {}) == a
    # A delta against itself changes nothing.
    same = codec.diff(a, a)
    assert set(same) == {"t", "tick", "acks", "full"}
    assert codec.apply(same, a) == a


def test_aim_delta_takes_short_way_round() -> None:
    a: dict[str, Any] = {"t": "snap", "tick": 1, "acks": {}, "full": True, "players": {
        1: [0, 0, 250, 100, 1, 0, 0, 0, "x"]}, "projectiles": {}, "pickups": {}}  # fmt: skip
    b = copy.deepcopy(a)
    b["players"][1][2] = 3
    b["tick"] = 2
    delta = codec.diff(a, b)
    assert delta["players"] == {"m": {1: [0, 0, 9]}}
    assert codec.apply(delta, a) == b


def test_match_delta_chain_reconstructs_every_snapshot() -> None:
    m = Match(config(min_players=2, countdown_s=0.2, match_s=3.0, ended_s=0.5,
                     pickup_spots=((300, 300),), pickup_interval_s=0.3), 4)  # fmt: skip
    d = Driver(m)
    for pid in range(1, 5):
        m.add_player(pid, f"p{pid}")
    client = m.snapshot()
    prev = client
    for i in range(200):
        for pid in m.player_ids():
            d.send(pid, mx=math.cos(i / 7 + pid), my=math.sin(i / 5), aim=i / 9 % 6, fire=True)
        if i == 50:
            m.remove_player(4)
        if i == 80:
            m.add_player(9, "late")
        m.step()
        cur = m.snapshot()
        client = codec.apply(codec.decode(codec.encode(codec.diff(prev, cur))), client)
        assert client == cur
        prev = cur


def moving_room(first_id: int) -> tuple[Match, Driver]:
    m = Match(config(spawn_points=tuple((100 + 70 * i, 500) for i in range(20)),
                     spawn_clear_radius=1.0), 1)  # fmt: skip
    for pid in range(first_id, first_id + 20):
        m.add_player(pid, f"bot{pid}")
    return m, Driver(m)


def delta_bytes(first_id: int, moving: bool) -> int:
    m, d = moving_room(first_id)
    prev = m.snapshot()
    for i in range(120):
        prev = m.snapshot()
        for n, pid in enumerate(m.player_ids()):
            ang = n * 0.7 + i / 15
            d.send(pid, mx=math.cos(ang) if moving else 0.0, my=math.sin(ang) if moving else 0.0,
                   aim=(ang + 1) % 6 if moving else 0.0)  # fmt: skip
        m.step()
    return len(codec.encode(codec.diff(prev, m.snapshot())))


def test_delta_bytes_per_moving_player_under_ten() -> None:
    for first_id in (1, 1000):
        still = delta_bytes(first_id, moving=False)
        moving = delta_bytes(first_id, moving=True)
        # The movement's own cost, as Colyseus counts it (acks are paid either way).
        assert (moving - still) / 20 < 10
    # With small ids the whole delta, acks included, stays under 10 B per player.
    assert delta_bytes(1, moving=True) / 20 < 10
