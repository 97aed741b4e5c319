"""Determinism, invariants, checkpoint/restore and replay from the input log."""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import EngineError, replay
from engine.arena import GameConfig, InputFrame, Match, codec
from engine.inputlog import InputLog
from tests.engine.engine_helpers import inp

FAST = GameConfig(min_players=2, countdown_s=0.5, match_s=20.0, ended_s=1.0, score_limit=5,
                  pickup_interval_s=1.0, respawn_s=0.5)  # fmt: skip

action = st.tuples(
    st.integers(1, 6),  # player
    st.floats(-1, 1),
    st.floats(-1, 1),
    st.floats(-6.28, 6.28),
    st.booleans(),
    st.integers(0, 6),  # lag in ticks (6 = no tick)
)
script = st.lists(st.lists(action, max_size=8), min_size=5, max_size=120)


def play(seed: int, ticks: list[list[tuple[Any, ...]]], m: Match | None = None) -> Match:
    """Run a script: each tick, a list of actions; players join on first use."""
    m = m or Match(FAST, seed)
    seqs: dict[int, int] = {}
    for actions in ticks:
        for pid, mx, my, aim, fire, lag in actions:
            if pid not in m.player_ids():
                if pid == 6 and m.player_ids():
                    m.remove_player(m.player_ids()[0])
                    continue
                m.add_player(pid, f"p{pid}")
            seqs[pid] = seqs.get(pid, m.player_state(pid).last_seq) + 1
            tick = None if lag == 6 else max(0, m.tick - lag)
            m.submit(pid, inp(seqs[pid], mx, my, aim, fire, tick))
        m.step()
    return m


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), script)
def test_determinism(seed: int, ticks: list[list[tuple[Any, ...]]]) -> None:
    assert play(seed, ticks).checkpoint() == play(seed, ticks).checkpoint()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), script, st.integers(0, 119))
def test_checkpoint_restore_equivalence(
    seed: int, ticks: list[list[tuple[Any, ...]]], cut: int
) -> None:
    cut = min(cut, len(ticks))
    original = play(seed, ticks[:cut])
    restored = Match.restore(original.checkpoint())
    assert restored.checkpoint() == original.checkpoint()
    assert restored.snapshot() == original.snapshot()
    a = play(seed, ticks[cut:], original)
    b = play(seed, ticks[cut:], restored)
    assert a.checkpoint() == b.checkpoint()


def bot_inputs(m: Match, rng: random.Random, seqs: dict[int, int]) -> None:
    ids = m.player_ids()
    for pid in ids:
        me = m.player_state(pid)
        others = [m.player_state(o) for o in ids if o != pid]
        aim = rng.uniform(-3, 3)
        if others:
            t = min(others, key=lambda o: math.hypot(o.x - me.x, o.y - me.y))
            aim = math.atan2(t.y - me.y, t.x - me.x) + rng.uniform(-0.1, 0.1)
        seqs[pid] = seqs.get(pid, -1) + 1
        m.submit(pid, inp(seqs[pid], rng.uniform(-1, 1), rng.uniform(-1, 1), aim,
                          rng.random() < 0.5, max(0, m.tick - rng.randrange(4))))  # fmt: skip


def check_invariants(m: Match, prev: dict[int, tuple[int, int, int]], events: list[Any]) -> None:
    c = m.config
    kills: dict[int, int] = {}
    for e in events:
        if e.kind == "kill":
            kills[e.data["killer"]] = kills.get(e.data["killer"], 0) + 1
    reset = any(e.kind == "phase" and e.data["phase"] in ("playing", "waiting") for e in events)
    for pid in m.player_ids():
        s = m.player_state(pid)
        assert c.player_radius <= s.x <= c.map_width - c.player_radius
        assert c.player_radius <= s.y <= c.map_height - c.player_radius
        assert 0 <= s.hp <= c.max_hp
        assert math.hypot(s.vx, s.vy) <= c.max_speed * c.speed_boost_mult + 1e-9
        for wx, wy, ww, wh in c.walls:
            assert not (wx < s.x < wx + ww and wy < s.y < wy + wh)
        if pid in prev and not reset:
            assert s.score - prev[pid][0] == kills.get(pid, 0)
            assert s.kills - prev[pid][1] == kills.get(pid, 0)
        prev[pid] = (s.score, s.kills, s.deaths)


def test_long_random_match_invariants() -> None:
    m = Match(FAST, 77)
    rng = random.Random(1)
    seqs: dict[int, int] = {}
    prev: dict[int, tuple[int, int, int]] = {}
    seen: set[str] = set()
    for pid in range(1, 9):
        m.add_player(pid, f"p{pid}")
    for _ in range(1500):
        bot_inputs(m, rng, seqs)
        events = m.step()
        seen.update(e.kind for e in events)
        check_invariants(m, prev, events)
    assert {"hit", "kill", "death", "respawn", "pickup", "phase", "match_end"} <= seen


def test_replay_rebuilds_2000_tick_match() -> None:
    m = Match(FAST, 2024)
    rng = random.Random(7)
    seqs: dict[int, int] = {}
    marks = {1, 250, 999, 1500, 2000}
    saved: dict[int, bytes] = {}
    kinds: set[str] = set()
    for pid in range(1, 6):
        m.add_player(pid, f"p{pid}")
    while m.tick < 2000:
        if m.tick % 170 == 0 and m.tick:
            ids = m.player_ids()
            if len(ids) > 3:
                m.remove_player(ids[rng.randrange(len(ids))])
            m.add_player(100 + m.tick, "newcomer")
        if m.tick == 1200:
            try:
                m.end_now()
            except EngineError:
                pass
        bot_inputs(m, rng, seqs)
        kinds.update(e.kind for e in m.step())
        if m.tick in marks:
            saved[m.tick] = m.checkpoint()
    assert {"kill", "match_end", "respawn"} <= kinds
    log = InputLog.from_bytes(m.input_log.to_bytes(), InputFrame)
    assert [r.kind for r in log] == [r.kind for r in m.input_log]
    for tick, data in sorted(saved.items()):
        rebuilt = replay.rebuild(FAST, 2024, log, tick)
        assert rebuilt.tick == tick
        assert rebuilt.checkpoint() == data, f"diverged at tick {tick}"


def test_restore_rejects_garbage() -> None:
    for data in (b"", b"\x80", codec.encode({"v": 99})):
        try:
            Match.restore(data)
        except EngineError as err:
            assert err.code == "bad_checkpoint"
        else:
            raise AssertionError("restore accepted garbage")
