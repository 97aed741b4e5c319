"""Input queue: bound, stale/duplicate seqs, max inputs per tick, acks."""

from __future__ import annotations

import pytest

from engine import EngineError
from engine.arena import Match
from tests.engine.engine_helpers import config, inp


def room() -> Match:
    m = Match(config(input_queue_max=8, max_inputs_per_tick=4), 1)
    m.add_player(1, "a")
    return m


def test_stale_and_duplicate_seq_ignored() -> None:
    m = room()
    assert m.submit(1, inp(5))
    assert not m.submit(1, inp(5))
    assert not m.submit(1, inp(3))
    assert m.submit(1, inp(6))
    m.step()
    assert m.snapshot()["acks"] == {1: 6}
    assert not m.submit(1, inp(6))
    assert m.submit(1, inp(100))


def test_acks_start_at_minus_one() -> None:
    m = room()
    assert m.snapshot()["acks"] == {1: -1}


def test_max_inputs_per_tick_and_last_intent_holds() -> None:
    m = room()
    for seq in range(6):
        m.submit(1, inp(seq, mx=1.0 if seq == 3 else -1.0))
    m.step()
    # Four applied this tick, the fourth (seq 3) sets the stick.
    assert m.snapshot()["acks"][1] == 3
    assert m.player_state(1).vx > 0
    m.step()
    assert m.snapshot()["acks"][1] == 5
    m.step()
    assert m.snapshot()["acks"][1] == 5


def test_queue_drops_oldest_when_full() -> None:
    m = room()
    for seq in range(12):
        assert m.submit(1, inp(seq))
    m.step()
    # 0..3 were dropped; 4..7 applied.
    assert m.snapshot()["acks"][1] == 7
    m.step()
    assert m.snapshot()["acks"][1] == 11


def test_submit_unknown_player() -> None:
    m = room()
    with pytest.raises(EngineError) as err:
        m.submit(2, inp(0))
    assert err.value.code == "not_in_room"
