"""engine.inputqueue: the per-player seq rules every game's submit, step and acks share."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.inputqueue import InputQueue
from engine.paddle.inputs import PaddleInput


def inp(seq: int, direction: int = 1) -> PaddleInput:
    return PaddleInput(seq=seq, dir=direction)


def seqs(queue: InputQueue[PaddleInput]) -> list[int]:
    return [i.seq for i in queue]


def test_a_seq_not_above_every_seq_seen_is_refused_and_changes_nothing() -> None:
    q: InputQueue[PaddleInput] = InputQueue(8)
    assert q.offer(inp(3))
    assert not q.offer(inp(3))
    assert not q.offer(inp(2))
    assert seqs(q) == [3] and q.queued == 3 and q.applied == -1
    assert [i.seq for i in q.take(4)] == [3]
    # Applied seqs are as stale as queued ones.
    assert not q.offer(inp(3))
    assert q.offer(inp(5))
    assert seqs(q) == [5]


def test_a_full_queue_drops_its_oldest_input_which_is_never_acked() -> None:
    q: InputQueue[PaddleInput] = InputQueue(3)
    for s in range(5):
        assert q.offer(inp(s))
    assert seqs(q) == [2, 3, 4]
    assert [i.seq for i in q.take(1)] == [2]
    assert q.applied == 2


def test_take_returns_the_oldest_inputs_up_to_the_limit_and_acks_the_last() -> None:
    q: InputQueue[PaddleInput] = InputQueue(8)
    assert q.take(4) == [] and q.applied == -1
    for s in (1, 4, 6, 7, 9):
        q.offer(inp(s))
    assert [i.seq for i in q.take(2)] == [1, 4]
    assert q.applied == 4 and len(q) == 3
    assert [i.seq for i in q.take(8)] == [6, 7, 9]
    assert q.applied == 9 and len(q) == 0
    # Nothing waiting: the ack stays where it was.
    assert q.take(2) == [] and q.applied == 9


def test_reset_drops_what_waits_and_restarts_the_numbering() -> None:
    q: InputQueue[PaddleInput] = InputQueue(8)
    for s in range(10, 14):
        q.offer(inp(s))
    q.take(1)
    q.reset()
    assert len(q) == 0 and q.applied == -1 and q.queued == -1
    assert q.offer(inp(0))  # a new connection numbers from any seq again
    assert [i.seq for i in q.take(1)] == [0] and q.applied == 0


def test_state_and_restored_give_back_the_same_queue() -> None:
    q: InputQueue[PaddleInput] = InputQueue(4)
    for s, d in ((1, -1), (2, 0), (3, 1)):
        q.offer(inp(s, d))
    q.take(1)
    state = q.state()
    assert state == [1, 3, [[2, 0], [3, 1]]]
    back = InputQueue.restored(PaddleInput, 4, *state)
    assert back.state() == state and back.max_len == 4
    assert not back.offer(inp(3))
    assert [(i.seq, i.dir) for i in back.take(4)] == [(2, 0), (3, 1)]


@pytest.mark.parametrize(("applied", "queued", "rows"), [
    (1, 3, [[2, 7]]),           # dir out of range: the model validates stored rows again
    (1, 3, [[2]]),              # a row of the wrong length
    ("1", 3, []),               # seqs must be integers
    (1, None, []),
])
def test_restored_refuses_what_the_model_or_the_format_refuses(
    applied: object, queued: object, rows: list[list[object]]
) -> None:
    with pytest.raises((ValueError, ValidationError)):
        InputQueue.restored(PaddleInput, 4, applied, queued, rows)  # type: ignore[arg-type]


def test_a_queue_holds_at_least_one_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        InputQueue(0)


# A model of the rules in plain lists: the queue must agree with it after any calls.
ops = st.lists(st.one_of(
    st.tuples(st.just("offer"), st.integers(0, 30)),
    st.tuples(st.just("take"), st.integers(1, 4)),
    st.tuples(st.just("reset"), st.just(0)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(max_len=st.integers(1, 5), calls=ops)
def test_any_sequence_of_calls_follows_the_rules(
    max_len: int, calls: list[tuple[str, int]]
) -> None:
    q: InputQueue[PaddleInput] = InputQueue(max_len)
    waiting: list[int] = []
    applied = queued = -1
    for op, arg in calls:
        if op == "offer":
            accepted = arg > queued
            assert q.offer(inp(arg)) is accepted
            if accepted:
                waiting = [*waiting, arg][-max_len:]
                queued = arg
        elif op == "take":
            taken, waiting = waiting[:arg], waiting[arg:]
            assert [i.seq for i in q.take(arg)] == taken
            if taken:
                applied = taken[-1]
        else:
            q.reset()
            waiting, applied, queued = [], -1, -1
        assert seqs(q) == waiting and q.applied == applied and q.queued == queued
        assert len(q) <= max_len
