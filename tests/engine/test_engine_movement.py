"""Movement: acceleration, friction, the speed cap, walls and bounds."""

from __future__ import annotations

import math

from engine.arena import Match
from tests.engine.engine_helpers import Driver, config


def one_player(**overrides: object) -> tuple[Match, Driver]:
    m = Match(config(spawn_points=((400, 500),), **overrides), 3)
    m.add_player(1, "a")
    return m, Driver(m)


def speed(m: Match) -> float:
    s = m.player_state(1)
    return math.hypot(s.vx, s.vy)


def test_accelerates_toward_max_speed_and_never_beyond() -> None:
    m, d = one_player()
    c = m.config
    d.send(1, mx=1.0)
    m.step()
    assert speed(m) == c.accel / c.tick_rate
    for _ in range(20):
        d.send(1, mx=1.0)
        m.step()
        assert speed(m) <= c.max_speed
    assert speed(m) == c.max_speed


def test_diagonal_stick_is_normalised() -> None:
    m, d = one_player()
    for _ in range(20):
        d.send(1, mx=1.0, my=1.0)
        m.step()
    assert abs(speed(m) - m.config.max_speed) < 1e-9


def test_friction_brings_player_to_rest() -> None:
    m, d = one_player()
    for _ in range(10):
        d.send(1, mx=-1.0)
        m.step()
    d.send(1, mx=0.0)
    m.step()
    slowed = speed(m)
    assert 0 < slowed < m.config.max_speed
    for _ in range(10):
        m.step()
    assert speed(m) == 0.0


def test_speed_hack_impossible_with_many_inputs_per_tick() -> None:
    m, d = one_player()
    c = m.config
    before = m.player_state(1).x
    for _ in range(30):
        for _ in range(8):
            d.send(1, mx=1.0)
        x0 = m.player_state(1).x
        m.step()
        assert m.player_state(1).x - x0 <= c.max_speed / c.tick_rate + 1e-9
    assert m.player_state(1).x - before <= 30 * c.max_speed / c.tick_rate


def test_walls_stop_players() -> None:
    m, d = one_player(walls=((500, 0, 50, 1000),))
    for _ in range(40):
        d.send(1, mx=1.0)
        m.step()
    s = m.player_state(1)
    assert s.x == 500 - m.config.player_radius
    assert s.vx == 0.0


def test_walls_stop_players_from_the_other_side_and_vertically() -> None:
    m, d = one_player(walls=((300, 0, 50, 1000), (0, 600, 1600, 50)))
    for _ in range(40):
        d.send(1, mx=-1.0, my=1.0)
        m.step()
    s = m.player_state(1)
    assert s.x == 350 + m.config.player_radius
    assert s.y == 600 - m.config.player_radius


def test_map_bounds_hold() -> None:
    m, d = one_player()
    r = m.config.player_radius
    for _ in range(200):
        d.send(1, mx=-1.0, my=-1.0)
        m.step()
    s = m.player_state(1)
    assert (s.x, s.y) == (r, r)
    for _ in range(300):
        d.send(1, mx=1.0, my=1.0)
        m.step()
    s = m.player_state(1)
    assert (s.x, s.y) == (m.config.map_width - r, m.config.map_height - r)
