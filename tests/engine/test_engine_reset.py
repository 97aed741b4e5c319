"""A new connection restarts a player's input stream (reset_inputs)."""

from __future__ import annotations

import pytest

from engine import EngineError, replay
from engine.arena import Match
from tests.engine.engine_helpers import config, inp, playing_match


def test_reset_accepts_seq_from_zero_and_acks_restart() -> None:
    m = playing_match(1)
    for seq in range(1, 6):
        assert m.submit(1, inp(seq, mx=1.0))
        m.step()
    assert m.snapshot()["acks"][1] == 5
    m.reset_inputs(1)
    assert m.snapshot()["acks"][1] == -1
    assert m.submit(1, inp(0, mx=1.0)), "a new connection numbers its inputs from 0"
    m.step()
    assert m.snapshot()["acks"][1] == 0


def test_reset_stops_the_players_intent() -> None:
    m = playing_match(1)
    for seq in range(10):
        m.submit(1, inp(seq, mx=1.0))
        m.step()
    m.reset_inputs(1)
    for _ in range(40):
        m.step()
    before = m.player_state(1).x
    m.step()
    assert m.player_state(1).x == before, "a disconnected player comes to rest"


def test_reset_of_unknown_player_is_an_error() -> None:
    with pytest.raises(EngineError) as caught:
        Match(config(), 1).reset_inputs(9)
    assert caught.value.code == "not_in_room"


def test_replay_reproduces_resets() -> None:
    m = playing_match(2, seed=3)
    for seq in range(30):
        m.submit(1, inp(seq, mx=1.0, my=0.5))
        m.submit(2, inp(seq, mx=-1.0, fire=seq % 3 == 0))
        m.step()
        if seq == 15:
            m.reset_inputs(1)
    log = list(m.input_log)
    rebuilt = replay.rebuild(m.config, m.seed, log, m.tick)
    assert rebuilt.checkpoint() == m.checkpoint()


def test_a_match_can_run_without_an_input_log() -> None:
    recorded, silent = Match(config(), 7), Match(config(), 7, record_inputs=False)
    for m in (recorded, silent):
        m.add_player(1, "a")
        for seq in range(50):
            m.submit(1, inp(seq, mx=1.0))
            m.step()
    assert len(silent.input_log) == 0 and len(recorded.input_log) > 50
    assert silent.checkpoint() == recorded.checkpoint(), "the game is the same"
    restored = Match.restore(silent.checkpoint(), record_inputs=False)
    restored.submit(1, inp(99))
    assert len(restored.input_log) == 0
