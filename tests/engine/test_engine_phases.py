"""The phase machine: WAITING -> COUNTDOWN -> PLAYING -> ENDED -> WAITING."""

from __future__ import annotations

import pytest

from engine import EngineError
from engine.arena import Match, Phase
from tests.engine.engine_helpers import Driver, config


def run(m: Match, n: int) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        out += [
            e.data["phase"] if e.kind == "phase" else e.kind
            for e in m.step()
            if e.kind in ("phase", "match_end")
        ]
    return out


def two_player_match(**overrides: object) -> Match:
    base: dict[str, object] = {"countdown_s": 1.0, "match_s": 5.0, "ended_s": 1.0}
    m = Match(config(min_players=2, **{**base, **overrides}), 9)
    m.add_player(1, "a")
    return m


def test_whole_cycle_by_time_limit() -> None:
    m = two_player_match()
    c = m.config
    assert m.phase is Phase.WAITING and m.phase.value == "waiting"
    assert run(m, 5) == []
    m.add_player(2, "b")
    assert run(m, 1) == ["countdown"]
    assert m.phase_ends_tick == m.tick + c.ticks(1.0)
    assert run(m, c.ticks(1.0) - 1) == []
    assert run(m, 1) == ["playing"]
    assert m.match_started_tick == m.tick
    assert run(m, c.ticks(5.0) - 1) == []
    assert m.results() == []
    assert run(m, 1) == ["ended", "match_end"]
    results = m.results()
    assert [r["place"] for r in results] == [1, 2]
    assert set(results[0]) == {"player_id", "name", "kills", "deaths", "score", "place"}
    assert run(m, c.ticks(1.0)) == ["waiting", "countdown"]
    assert m.results() == results  # kept until the next match ends


def test_countdown_aborts_when_players_leave() -> None:
    m = two_player_match()
    m.add_player(2, "b")
    assert run(m, 2) == ["countdown"]
    m.remove_player(2)
    assert run(m, 1) == ["waiting"]


def test_score_limit_ends_match_and_reset_after() -> None:
    m = two_player_match(score_limit=1, ended_s=0.5)
    m.add_player(2, "b")
    m.start_now()
    d = Driver(m)
    phases: list[str] = []
    for _ in range(60):
        d.send(1, aim=d.aim_at(1, 2), fire=True)
        for e in m.step():
            if e.kind == "phase":
                phases.append(e.data["phase"])
            if e.kind == "match_end":
                assert e.data["results"][0]["player_id"] == 1
                assert e.data["results"][0]["score"] == 1
        if m.phase is Phase.ENDED:
            break
    assert m.phase is Phase.ENDED and phases == ["ended"]
    # ENDED freezes the world and then scores reset on the way back to WAITING.
    assert run(m, m.config.ticks(0.5)) == ["waiting", "countdown"]
    assert m.player_state(1).score == 0 and m.player_state(2).deaths == 0
    assert m.player_state(2).alive


def test_mid_match_join_plays_immediately() -> None:
    m = two_player_match(spawn_points=((200, 500), (400, 500), (1400, 200)))
    m.add_player(2, "b")
    m.start_now()
    m.add_player(3, "c")
    s = m.player_state(3)
    assert s.alive and s.hp == m.config.max_hp and m.phase is Phase.PLAYING
    d = Driver(m)
    assert (s.x, s.y) == (1400, 200)
    d.send(3, mx=1.0, aim=-0.5, fire=True)
    m.step()
    assert m.projectile_count() == 1
    assert m.player_state(3).vx > 0


def test_empty_room_returns_to_waiting() -> None:
    m = two_player_match()
    m.add_player(2, "b")
    m.start_now()
    m.remove_player(1)
    m.remove_player(2)
    assert run(m, 1) == ["waiting"]


def test_wrong_phase_errors_name_the_phase() -> None:
    m = two_player_match()
    with pytest.raises(EngineError) as err:
        m.end_now()
    assert err.value.code == "wrong_phase" and "waiting" in err.value.message
    m.start_now()
    with pytest.raises(EngineError) as err:
        m.start_now()
    assert err.value.code == "wrong_phase" and "playing" in err.value.message
    m.end_now()
    assert m.phase is Phase.ENDED
    with pytest.raises(EngineError, match="ended"):
        m.end_now()


def test_membership_errors() -> None:
    m = Match(config(max_players=2), 1)
    m.add_player(1, "a")
    with pytest.raises(EngineError) as err:
        m.add_player(1, "again")
    assert err.value.code == "already_joined"
    m.add_player(2, "b")
    with pytest.raises(EngineError) as err:
        m.add_player(3, "c")
    assert err.value.code == "room_full"
    with pytest.raises(EngineError) as err:
        m.remove_player(7)
    assert err.value.code == "not_in_room"
    with pytest.raises(EngineError) as err:
        m.player_state(7)
    assert err.value.code == "not_in_room"
    assert m.player_ids() == [1, 2]


def test_bad_config_rejected() -> None:
    with pytest.raises(EngineError) as err:
        config(min_players=5, max_players=2)
    assert err.value.code == "bad_config"
