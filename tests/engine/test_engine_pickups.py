"""Pickups: timed spawns on spots, health (only when hurt), speed boost."""

from __future__ import annotations

import math

from engine.arena import Match
from tests.engine.engine_helpers import Driver, playing_match


def wait_for_pickup(m: Match) -> list[str]:
    kinds: list[str] = []
    for _ in range(m.config.ticks(m.config.pickup_interval_s) + 1):
        kinds += [e.kind for e in m.step()]
        if m.pickups():
            break
    return kinds


def test_pickups_spawn_on_a_timer_at_spots() -> None:
    m = playing_match(1, pickup_spots=((1000, 900),), pickup_interval_s=1.0)
    assert m.pickups() == []
    for _ in range(m.config.ticks(1.0) - 1):
        m.step()
    assert m.pickups() == []
    m.step()
    (pickup,) = m.pickups()
    assert pickup[1:3] == (1000.0, 900.0)
    # One per spot: the spot is taken until collected.
    for _ in range(m.config.ticks(3.0)):
        m.step()
    assert len(m.pickups()) == 1


def test_health_pickup_heals_only_hurt_players() -> None:
    m = playing_match(
        2,
        spawn_points=((200, 500), (400, 500)),
        pickup_spots=((200, 500), (400, 500)),
        pickup_kinds=("health",),
        pickup_interval_s=0.5,
    )
    d = Driver(m)
    shooter = 1 if m.player_state(1).x == 200 else 2
    target = 3 - shooter
    d.send(shooter, aim=d.aim_at(shooter, target), fire=True)
    for _ in range(8):
        m.step()
    assert m.player_state(target).hp == m.config.max_hp - m.config.projectile_damage
    events = []
    for _ in range(m.config.ticks(2.0)):
        events += m.step()
    picked = [e for e in events if e.kind == "pickup"]
    assert [e.data["player"] for e in picked] == [target]
    assert picked[0].data["item"] == "health"
    assert m.player_state(target).hp == m.config.max_hp
    # The unhurt shooter left the pack under its feet alone.
    assert any(p[1] == m.player_state(shooter).x for p in m.pickups())


def test_speed_boost_raises_top_speed_for_a_while() -> None:
    m = playing_match(
        1,
        spawn_points=((800, 500),),
        pickup_spots=((800, 500),),
        pickup_kinds=("speed",),
        pickup_interval_s=0.05,
        speed_boost_s=2.0,
    )
    d = Driver(m)
    kinds = wait_for_pickup(m)
    kinds += [e.kind for e in m.step()]
    assert "pickup" in kinds
    assert m.player_state(1).boosted
    c = m.config
    # Run right (away from the spot, which refills every tick) at boosted speed.
    top = 0.0
    for _ in range(25):
        d.send(1, mx=1.0)
        m.step()
        s = m.player_state(1)
        top = max(top, math.hypot(s.vx, s.vy))
    assert top == c.max_speed * c.speed_boost_mult
    for _ in range(c.ticks(2.0)):
        d.send(1, mx=0.0)
        m.step()
    assert not m.player_state(1).boosted
    for _ in range(20):
        d.send(1, mx=-1.0)
        m.step()
        s = m.player_state(1)
        assert math.hypot(s.vx, s.vy) <= c.max_speed
    assert s.x > 900
