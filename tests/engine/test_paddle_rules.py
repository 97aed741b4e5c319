"""The paddle game's rules: seats, paddles, serves, bounces, points, end conditions, inputs."""

from __future__ import annotations

from typing import Any

import pytest

from engine import EngineError, FrameError, protocol
from engine.arena import GAME as ARENA
from engine.game import Event
from engine.paddle import GAME, PaddleConfig, PaddleInput, PaddleMatch, input_frame

# Serves straight at a side's centre: a centred paddle returns the ball straight back.
STRAIGHT = PaddleConfig(serve_angle_deg=0.0, min_players=1)


class Players:
    """Feeds ``dir`` inputs with increasing seqs."""

    def __init__(self, m: PaddleMatch) -> None:
        self.m = m
        self.seq: dict[int, int] = {}

    def move(self, pid: int, direction: int) -> bool:
        self.seq[pid] = self.seq.get(pid, -1) + 1
        return self.m.submit(pid, PaddleInput(seq=self.seq[pid], dir=direction))


def match(n: int, config: PaddleConfig = STRAIGHT, seed: int = 1) -> PaddleMatch:
    m = PaddleMatch(config, seed)
    for pid in range(1, n + 1):
        m.add_player(pid, f"p{pid}")
    return m


def run(m: PaddleMatch, ticks: int) -> list[Event]:
    out: list[Event] = []
    for _ in range(ticks):
        out.extend(m.step())
    return out


def run_until(m: PaddleMatch, kind: str, limit: int = 2000) -> tuple[Event, list[Event]]:
    seen: list[Event] = []
    for _ in range(limit):
        for e in m.step():
            seen.append(e)
            if e.kind == kind:
                return e, seen
    raise AssertionError(f"no {kind} event in {limit} ticks; saw {[e.kind for e in seen]}")


def ball(m: PaddleMatch) -> list[Any] | None:
    balls = m.snapshot()["balls"]
    return next(iter(balls.values()), None)


def test_defaults_differ_from_the_arena() -> None:
    c = GAME.default_config()
    assert (c.tick_rate, c.snapshot_rate, c.min_players, c.max_players) == (60, 30, 2, 4)
    assert GAME.info.id == "paddle" and GAME.info.phases[0] == "waiting"
    assert GAME.input_model is PaddleInput and not issubclass(ARENA.input_model, PaddleInput)


def test_seats_in_order_and_freed_sides_are_reused() -> None:
    m = match(4)
    assert [m.side_of(pid) for pid in (1, 2, 3, 4)] == ["left", "right", "top", "bottom"]
    with pytest.raises(EngineError) as err:
        m.add_player(5, "p5")
    assert err.value.code == "room_full"
    with pytest.raises(EngineError) as err:
        m.add_player(4, "again")
    assert err.value.code == "already_joined"
    m.remove_player(2)
    m.add_player(9, "p9")
    assert m.side_of(9) == "right"
    assert {pid: row[1] for pid, row in m.snapshot()["paddles"].items()} == {
        1: 0, 3: 2, 4: 3, 9: 1,
    }


def test_two_seat_config_offers_only_left_and_right() -> None:
    m = match(2, PaddleConfig(max_players=2))
    with pytest.raises(EngineError) as err:
        m.add_player(3, "p3")
    assert err.value.code == "room_full"


def test_paddle_moves_by_the_last_input_and_stays_on_the_court() -> None:
    m = match(1)
    p = Players(m)
    c = m.config
    start = m.snapshot()["paddles"][1][0]
    p.move(1, 1)
    m.step()
    step = round(c.paddle_speed / c.tick_rate)
    assert m.snapshot()["paddles"][1][0] == start + step
    assert m.acks() == {1: 0}
    p.move(1, -1)
    run(m, 200)
    assert m.snapshot()["paddles"][1][0] == c.paddle_length // 2
    p.move(1, 1)
    run(m, 200)
    assert m.snapshot()["paddles"][1][0] == c.court_size - c.paddle_length // 2


def test_reset_inputs_stops_the_paddle_and_restarts_seqs() -> None:
    m = match(1)
    p = Players(m)
    p.move(1, 1)
    m.step()
    m.reset_inputs(1)
    assert m.acks() == {1: -1}
    pos = m.snapshot()["paddles"][1][0]
    run(m, 5)
    assert m.snapshot()["paddles"][1][0] == pos
    assert m.submit(1, PaddleInput(seq=0, dir=0))
    assert not m.submit(1, PaddleInput(seq=0, dir=1))


def test_serve_after_the_delay_from_the_centre_toward_a_guarded_side() -> None:
    m = match(2, PaddleConfig())
    m.start_now()
    delay = m.config.ticks(m.config.serve_delay_s)
    events = run(m, delay - 1)
    assert "serve" not in [e.kind for e in events] and ball(m) is None
    assert m.snapshot()["serve_at"] == delay
    (serve,) = [e for e in m.step() if e.kind == "serve"]
    centre = m.config.court_size // 2
    x, y, vx, vy = ball(m) or []
    assert (serve.data["vx"], serve.data["vy"]) == (vx, vy)
    assert (x, y) == (centre + vx, centre + vy)  # served, then moved once this tick
    # Toward left or right (the guarded sides), at most 30 degrees off the normal.
    assert vx != 0 and abs(vy) <= abs(vx) * 0.58


def test_serves_depend_on_the_seed_only() -> None:
    def first_serve(seed: int) -> dict[str, Any]:
        m = match(2, PaddleConfig(), seed)
        m.start_now()
        return run_until(m, "serve")[0].data

    assert first_serve(3) == first_serve(3)
    assert len({tuple(first_serve(s).values()) for s in range(8)}) > 1


def test_a_centred_paddle_returns_the_ball_faster() -> None:
    m = match(2)
    m.start_now()
    serve, _ = run_until(m, "serve")
    hit, _ = run_until(m, "hit")
    toward_left = serve.data["vx"] < 0
    assert hit.data["player"] == (1 if toward_left else 2)
    _, _, vx, vy = ball(m) or []
    assert (vx > 0) == toward_left and vy == 0
    assert abs(vx) > abs(serve.data["vx"])
    assert hit.data["speed"] == round(m.config.ball_speed * m.config.ball_speedup)


def test_an_off_centre_hit_sends_the_ball_at_an_angle() -> None:
    m = match(2)
    p = Players(m)
    m.start_now()
    serve, _ = run_until(m, "serve")
    target = 1 if serve.data["vx"] < 0 else 2
    p.move(target, 1)  # the paddle slides down: the ball meets its upper half
    run(m, 4)
    p.move(target, 0)
    hit, _ = run_until(m, "hit")
    assert hit.data["player"] == target
    _, _, _, vy = ball(m) or []
    assert vy < 0  # deflected upward (toward the paddle's nearer end)


def test_an_unguarded_side_is_a_wall() -> None:
    m = match(1)  # left guarded, right/top/bottom are walls
    m.start_now()
    run_until(m, "hit")
    _, _, vx, _ = ball(m) or []
    assert vx > 0
    for _ in range(500):
        events = m.step()
        b = ball(m)
        assert b is not None and not [e for e in events if e.kind == "score"]
        if b[2] < 0:
            assert not [e for e in events if e.kind == "hit"]  # the wall bounced it
            return
    raise AssertionError("the ball never came back from the right wall")


def test_missing_concedes_a_point_to_every_other_player() -> None:
    m = match(2, PaddleConfig(serve_angle_deg=0.0, score_limit=5))
    p = Players(m)
    m.start_now()
    p.move(1, -1)  # player 1 leaves the centre: whatever comes to the left is missed
    score, _ = run_until(m, "score")
    assert score.data["player"] == 1 and score.data["scorers"] == [2]
    assert ball(m) is None
    paddles = m.snapshot()["paddles"]
    assert (paddles[1][2], paddles[1][3], paddles[2][2], paddles[2][3]) == (0, 1, 1, 0)
    assert m.snapshot()["serve_at"] == m.tick + m.config.ticks(m.config.serve_delay_s)


def test_three_players_two_scorers_and_a_wall() -> None:
    for seed in range(60):
        m = match(3, seed=seed)
        m.start_now()
        serve, _ = run_until(m, "serve")
        if serve.data["vy"] < 0:  # toward player 3 on top
            break
    else:
        raise AssertionError("no seed served to the top")
    p = Players(m)
    p.move(3, -1)
    score, _ = run_until(m, "score")
    assert score.data == {"player": 3, "ball": serve.data["ball"], "scorers": [1, 2]}


def test_match_ends_at_the_score_limit_with_standings() -> None:
    m = match(2, PaddleConfig(serve_angle_deg=0.0, score_limit=2))
    p = Players(m)
    m.start_now()
    p.move(1, -1)
    end, seen = run_until(m, "match_end")
    assert [e.data["player"] for e in seen if e.kind == "score"] == [1, 1]
    assert m.phase == "ended" and ball(m) is None
    assert end.data["results"] == m.results() == [
        {"player_id": 2, "name": "p2", "side": "right", "score": 2, "misses": 0, "place": 1},
        {"player_id": 1, "name": "p1", "side": "left", "score": 0, "misses": 2, "place": 2},
    ]
    run(m, m.config.ticks(m.config.ended_s))
    assert m.phase == "waiting"
    assert [row[2] for row in m.snapshot()["paddles"].values()] == [0, 0]


def test_match_ends_at_the_time_limit() -> None:
    m = match(2, PaddleConfig(serve_angle_deg=0.0, match_s=3.0))
    m.start_now()
    end, seen = run_until(m, "match_end")
    assert end.tick == m.config.ticks(3.0)
    assert "hit" in [e.kind for e in seen] and "score" not in [e.kind for e in seen]
    assert [row["player_id"] for row in m.results()] == [1, 2]  # tie: by id


def test_walkover_when_one_player_is_left() -> None:
    m = match(2, PaddleConfig())
    run_until(m, "phase")  # countdown
    phase, _ = run_until(m, "phase")
    assert phase.data["phase"] == "playing"
    m.remove_player(2)
    events = m.step()
    assert [e.kind for e in events][-2:] == ["phase", "match_end"]
    assert [row["player_id"] for row in m.results()] == [1]


def test_a_solo_match_is_not_a_walkover() -> None:
    m = match(1)
    m.start_now()
    assert all(e.kind != "match_end" for e in run(m, 120))
    assert m.phase == "playing"


def test_phases_and_staff_calls() -> None:
    m = match(1, PaddleConfig())
    with pytest.raises(EngineError) as err:
        m.end_now()
    assert err.value.code == "wrong_phase" and "waiting" in err.value.message
    m.add_player(2, "p2")
    assert [e.data["phase"] for e in m.step()] == ["countdown"]
    assert [e.data["phase"] for e in m.start_now()] == ["playing"]
    with pytest.raises(EngineError) as err:
        m.start_now()
    assert "playing" in err.value.message
    kinds = [e.kind for e in m.end_now()]
    assert kinds == ["phase", "match_end"] and m.phase == "ended"


def test_input_schema_errors_name_the_field() -> None:
    def refused(payload: dict[str, Any]) -> str:
        with pytest.raises(FrameError) as err:
            GAME.parse_input(payload)
        assert err.value.code == "invalid"
        return err.value.message

    assert refused({"seq": 1, "dir": 2}).startswith("dir: ")
    assert refused({"seq": 1, "dir": True}).startswith("dir: ")
    assert refused({"seq": 1, "dir": 0.5}).startswith("dir: ")
    assert refused({"seq": -1, "dir": 0}).startswith("seq: ")
    assert GAME.parse_input({"seq": 3, "dir": -1}) == PaddleInput(seq=3, dir=-1)


def test_an_input_of_another_games_schema_is_a_clear_error() -> None:
    arena_input = protocol.encode(
        {"t": "input", "seq": 1, "mx": 0.5, "my": 0.0, "aim": 1.0, "fire": True}
    )
    with pytest.raises(FrameError) as err:
        GAME.parse_frame(arena_input)
    assert (err.value.code, err.value.message) == ("invalid", "dir: Field required")
    with pytest.raises(FrameError) as err:
        ARENA.parse_frame(input_frame(1, 1))
    assert (err.value.code, err.value.message) == ("invalid", "mx: Field required")
    # The arena's model refuses a paddle input the same way.
    with pytest.raises(FrameError) as err:
        protocol.parse_client_frame(input_frame(1, 1), ARENA.input_model)
    assert err.value.message == "mx: Field required"
    assert isinstance(protocol.parse_client_frame(input_frame(1, 1), PaddleInput), PaddleInput)
    # ping and chat are the same for every game.
    assert GAME.parse_frame(protocol.ping(4)) == protocol.PingFrame(id=4)


def test_checkpoints_are_per_game() -> None:
    paddle = match(2)
    arena = ARENA.new_match(1)
    with pytest.raises(EngineError) as err:
        GAME.restore(arena.checkpoint(), True)
    assert err.value.code == "bad_checkpoint"
    with pytest.raises(EngineError) as err:
        ARENA.restore(paddle.checkpoint(), True)
    assert err.value.code == "bad_checkpoint"


def test_config_is_validated() -> None:
    for bad in ({"max_players": 5}, {"min_players": 3, "max_players": 2},
                {"paddle_length": 20000}, {"ball_radius": 2000}, {"serve_angle_deg": 90.0},
                {"max_ball_speed": 100.0}):
        with pytest.raises(EngineError) as err:
            GAME.configure(bad)
        assert err.value.code == "bad_config", bad
    with pytest.raises(EngineError) as err:
        GAME.configure({"no_such_key": 1})
    assert err.value.code == "bad_config" and "no_such_key" in err.value.message
    assert GAME.configure({"score_limit": 3}).score_limit == 3
