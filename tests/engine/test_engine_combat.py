"""Firing, cooldown, projectiles, damage, death, kills and respawn."""

from __future__ import annotations

import math

from engine.arena import Match
from tests.engine.engine_helpers import Driver, playing_match


def fire_at(m: Match, d: Driver, shooter: int, target: int) -> list[str]:
    d.send(shooter, aim=d.aim_at(shooter, target), fire=True)
    return [e.kind for e in m.step()]


def test_fire_cooldown() -> None:
    m = playing_match(1)
    d = Driver(m)
    cooldown = m.config.ticks(m.config.fire_cooldown_s)
    shots = 0
    for _ in range(cooldown * 3):
        before = m.snapshot()["projectiles"]
        d.send(1, aim=math.pi / 2, fire=True)
        m.step()
        shots += len(set(m.snapshot()["projectiles"]) - set(before))
    assert shots == 3


def test_no_firing_outside_playing() -> None:
    from tests.engine.engine_helpers import config

    m = Match(config(min_players=2), 1)
    m.add_player(1, "a")
    d = Driver(m)
    d.send(1, fire=True)
    m.step()
    assert m.projectile_count() == 0


def test_hit_damage_death_kill_and_respawn_at_free_spawn() -> None:
    m = playing_match(2, spawn_points=((200, 500), (400, 500), (1400, 500)))
    d = Driver(m)
    c = m.config
    cooldown = c.ticks(c.fire_cooldown_s)
    hits = 0
    kinds: list[str] = []
    for _ in range(4):
        kinds = fire_at(m, d, 1, 2)
        for _ in range(cooldown - 1):
            kinds += [e.kind for e in m.step()]
        hits += kinds.count("hit")
        if not m.player_state(2).alive:
            break
    assert hits == c.max_hp // c.projectile_damage
    assert "death" in kinds and "kill" in kinds
    victim = m.player_state(2)
    assert victim.hp == 0 and not victim.alive and victim.deaths == 1
    assert m.player_state(1).score == 1 and m.player_state(1).kills == 1
    # Dead players neither move nor get hit; they respawn after respawn_s.
    events = []
    for _ in range(c.ticks(c.respawn_s)):
        events += m.step()
    respawns = [e for e in events if e.kind == "respawn"]
    assert len(respawns) == 1 and respawns[0].data["player"] == 2
    s = m.player_state(2)
    assert s.alive and s.hp == c.max_hp
    shooter = m.player_state(1)
    # The respawn point is clear of the living shooter.
    assert math.hypot(s.x - shooter.x, s.y - shooter.y) >= c.spawn_clear_radius


def test_projectile_stops_at_wall() -> None:
    m = playing_match(2, walls=((290, 400, 20, 200),))
    d = Driver(m)
    kinds = fire_at(m, d, 1, 2)
    for _ in range(20):
        kinds += [e.kind for e in m.step()]
    assert "hit" not in kinds
    assert m.projectile_count() == 0
    assert m.player_state(2).hp == m.config.max_hp


def test_projectile_expires_after_lifetime() -> None:
    m = playing_match(1, spawn_points=((100, 500),), map_width=100000)
    d = Driver(m)
    d.send(1, aim=0.0, fire=True)
    m.step()
    life = m.config.ticks(m.config.projectile_lifetime_s)
    for _ in range(life - 2):
        m.step()
    assert m.projectile_count() == 1
    m.step()
    assert m.projectile_count() == 0


def test_projectile_leaves_at_map_bound() -> None:
    m = playing_match(1, spawn_points=((30, 500),))
    d = Driver(m)
    d.send(1, aim=math.pi, fire=True)
    m.step()
    assert m.projectile_count() == 0


def test_shooter_cannot_hit_itself_and_scores_only_by_kills() -> None:
    m = playing_match(2)
    d = Driver(m)
    for _ in range(60):
        d.send(1, aim=d.aim_at(1, 2), fire=True)
        d.send(2, aim=d.aim_at(2, 1), fire=True)
        for e in m.step():
            if e.kind == "kill":
                assert e.data["killer"] != e.data["victim"]
    a, b = m.player_state(1), m.player_state(2)
    assert a.score == a.kills == b.deaths
    assert b.score == b.kills == a.deaths
    assert a.kills + b.kills >= 1
