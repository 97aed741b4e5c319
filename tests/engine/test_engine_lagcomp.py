"""Lag compensation: shots are judged against where targets were."""

from __future__ import annotations

import math

from engine.arena import Match
from tests.engine.engine_helpers import Driver, playing_match


def scene() -> tuple[Match, Driver, int, int, int]:
    """Target stands still at tick T, then strafes away; returns (m, d, shooter, target, T)."""
    m = playing_match(2, spawn_points=((200, 500), (260, 500)), spawn_clear_radius=10.0)
    d = Driver(m)
    shooter = 1 if m.player_state(1).x == 200 else 2
    target = 3 - shooter
    seen = m.tick
    for _ in range(4):
        d.send(target, my=1.0)
        m.step()
    assert m.player_state(target).y - 500 > m.config.player_radius + m.config.projectile_radius
    return m, d, shooter, target, seen


def test_shot_at_past_position_hits_with_tick() -> None:
    m, d, shooter, target, seen = scene()
    d.send(shooter, aim=0.0, fire=True, tick=seen)
    hits = [e for e in m.step() if e.kind == "hit"]
    assert [e.data["victim"] for e in hits] == [target]
    assert m.player_state(target).hp == m.config.max_hp - m.config.projectile_damage


def test_same_shot_without_tick_misses() -> None:
    m, d, shooter, target, _ = scene()
    d.send(shooter, aim=0.0, fire=True)
    events = []
    for _ in range(30):
        events += m.step()
    assert not [e for e in events if e.kind == "hit"]
    assert m.player_state(target).hp == m.config.max_hp


def test_future_or_ancient_ticks_are_clamped() -> None:
    m, d, shooter, _target, _seen = scene()
    # A tick from the future means no rewind at all: a miss.
    d.send(shooter, aim=0.0, fire=True, tick=m.tick + 50)
    events = m.step()
    for _ in range(20):
        events += m.step()
    assert not [e for e in events if e.kind == "hit"]
    # Beyond lag_comp_ms the rewind is clamped: standing still long ago is no help.
    m2, d2, shooter2, target2, _ = scene()
    for _ in range(m2.config.lag_comp_ticks + 5):
        d2.send(target2, my=0.0)
        m2.step()
    d2.send(shooter2, aim=0.0, fire=True, tick=0)
    events = []
    for _ in range(20):
        events += m2.step()
    assert not [e for e in events if e.kind == "hit"]


def test_backdated_projectile_is_ahead_of_shooter() -> None:
    m = playing_match(1, spawn_points=((200, 500),))
    d = Driver(m)
    for _ in range(3):
        m.step()
    d.send(1, aim=0.0, fire=True, tick=m.tick - 2)
    m.step()
    (proj,) = m.snapshot()["projectiles"].values()
    _x0, _y0, vx, vy, t0, owner = proj
    assert owner == 1 and t0 == m.tick - 1 - 2 and vy == 0
    assert math.isclose(vx / 8, m.config.projectile_speed / m.config.tick_rate)
