"""Match recordings (engine/recording.py): what a room records re-simulates exactly.

A small room loop drives matches the way gameserver/room.py does (staff
calls' events reach the recorder with the next step's) with bots that move,
aim at the nearest player and fire, so matches have deaths, kills and
pickups; players join, leave and reconnect mid-match.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import recording
from engine.arena import GAME as ARENA
from engine.game import AnyGame
from engine.inputlog import InputLog
from engine.paddle import GAME as PADDLE
from engine.recording import Recording
from tests.engine.recording_helpers import SMALL_ARENA, Room, by_id, tampered


def verified(rec: Recording, definition: AnyGame) -> recording.Verdict:
    back = recording.unpack(recording.pack(rec), by_id(definition).__getitem__)
    return recording.verify(definition, back)


def test_an_arena_match_with_joins_leaves_reconnects_deaths_and_pickups_verifies() -> None:
    config = ARENA.configure(SMALL_ARENA)
    room = Room(ARENA, config, seed=11)
    for pid in (1, 2, 3, 4):
        room.join(pid)
    for _ in range(2000):
        tick = room.match.tick
        if tick == 40:
            room.join(5)  # joins mid-match
        if tick == 60:
            room.match.remove_player(2)  # leaves for good
        if tick == 80:
            room.match.reset_inputs(3)  # disconnected...
        if 80 <= tick < 100 and 3 in room.seqs:
            del room.seqs[3]
        if tick == 100:
            room.join(3)  # ...and back
        room.seqs = {p: s for p, s in room.seqs.items() if p in room.match.player_ids()}
        room.arena_inputs()
        room.step()
        if room.finished:
            break
    assert room.finished, "the match did not end"
    rec = room.finished[0]
    kinds = {e.kind for e in room.events if rec.first_tick < e.tick <= rec.last_tick}
    assert {"kill", "death", "pickup", "respawn", "match_end"} <= kinds
    calls = {r.kind for r in rec.records()}
    assert {"join", "leave", "reset", "input"} <= calls
    # The recording starts where PLAYING began and ends at match_end.
    playing = [e.tick for e in room.events if e.kind == "phase" and e.data["phase"] == "playing"]
    ended = [e.tick for e in room.events if e.kind == "match_end"]
    assert (rec.first_tick, rec.last_tick) == (playing[0], ended[0])
    verdict = verified(rec, ARENA)
    assert verdict.ok, verdict
    assert verdict.checked == len(rec.checksums) >= 5


def test_a_paddle_match_verifies() -> None:
    config = PADDLE.configure({"countdown_s": 0.2, "match_s": 4.0})
    room = Room(PADDLE, config, seed=3, every=3)
    for pid in (7, 8):
        room.join(pid)
    for _ in range(400):
        for pid in room.match.player_ids():
            room.submit(pid, {"dir": room.rng.choice((-1, 0, 1))})
        room.step()
        if room.finished:
            break
    assert room.finished
    rec = room.finished[0]
    assert sum(1 for r in rec.records() if r.kind == "input") > 50
    assert verified(rec, PADDLE).ok


@pytest.mark.parametrize("every", [1, 5])
def test_a_tampered_input_fails_at_the_first_checksum_after_it(every: int) -> None:
    config = ARENA.configure(SMALL_ARENA)
    room = Room(ARENA, config, seed=5, every=every)
    for pid in (1, 2, 3):
        room.join(pid)
    room.match.start_now()
    for _ in range(120):
        room.arena_inputs()
        room.step()
    rec = room.recorder.finish()
    at = rec.first_tick + 37
    # The input made after step `at` is applied in step at + 1: the first checksum
    # taken at or after that tick differs.
    first_bad = min(t for t, _ in rec.checksums if t >= at + 1)
    verdict = verified(tampered(rec, at, ARENA), ARENA)
    assert not verdict.ok and verdict.bad_tick == first_bad, verdict
    assert verdict.checked == sum(1 for t, _ in rec.checksums if t < first_bad)
    assert verified(rec, ARENA).ok  # the untouched recording still verifies


def test_a_refused_recorded_call_is_reported_at_its_tick() -> None:
    config = ARENA.configure(SMALL_ARENA)
    room = Room(ARENA, config, seed=2)
    room.join(1)
    room.join(2)
    room.match.start_now()
    for _ in range(30):
        room.step()
    room.match.remove_player(2)
    for _ in range(10):
        room.step()
    rec = room.recorder.finish()
    log = InputLog(ARENA.input_model)
    for r in rec.records():
        log.add(r.tick, r.player_id, r.kind, r.name, r.frame)
        if r.kind == "leave":
            log.add(r.tick, r.player_id, "leave")  # a second leave: the game refuses it
    verdict = recording.verify(ARENA, dataclasses.replace(rec, log=log))
    assert verdict.bad_tick == rec.first_tick + 30 and "refused" in verdict.reason


def test_a_failed_over_match_records_from_its_restore() -> None:
    config = ARENA.configure(SMALL_ARENA)
    first = Room(ARENA, config, seed=9)
    for pid in (1, 2, 3):
        first.join(pid)
    first.match.start_now()
    for _ in range(50):
        first.arena_inputs()
        first.step()
    # Another process restores the checkpoint and records from there.
    restored = ARENA.restore(first.match.checkpoint(), True)
    second = Room(ARENA, config, seed=9, match=restored)
    second.seqs = dict.fromkeys(restored.player_ids(), 0)
    for pid in restored.player_ids():
        restored.reset_inputs(pid)
    for _ in range(1000):
        second.arena_inputs()
        second.step()
        if second.finished:
            break
    rec = second.finished[0]
    assert rec.first_tick == 50 == first.match.tick and verified(rec, ARENA).ok


def test_a_waiting_room_keeps_at_most_a_minute_of_calls() -> None:
    config = ARENA.configure({**SMALL_ARENA, "min_players": 3})
    room = Room(ARENA, config, seed=1, every=config.tick_rate)
    room.join(1)  # alone: the room waits
    for _ in range(config.tick_rate * 200):
        room.arena_inputs()
        room.step()
    rec = room.recorder.finish()
    window = recording.IDLE_RESTART * config.tick_rate
    assert room.match.phase == "waiting" and rec.last_tick - rec.first_tick < window
    assert len(rec.log) <= window and verified(rec, ARENA).ok


def test_garbage_is_not_a_recording() -> None:
    with pytest.raises(ValueError, match="malformed recording"):
        recording.unpack(b"not zlib", by_id(ARENA).__getitem__)
    config = ARENA.configure(SMALL_ARENA)
    rec = Room(ARENA, config, seed=1).recorder.finish()
    newer = dataclasses.replace(rec, version=ARENA.info.version + 1)
    with pytest.raises(ValueError, match="version"):
        recording.unpack(recording.pack(newer), by_id(ARENA).__getitem__)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**31), st.floats(-1, 1), st.booleans(),
                          st.none() | st.integers(0, 10**6), st.booleans()), max_size=40))
def test_rows_are_the_bytes_of_packing_each_alone_wherever_the_log_is_flushed(
    inputs: list[tuple[int, float, bool, int | None, bool]],
) -> None:
    import msgpack

    model = ARENA.input_model
    frames = [model(seq=seq, mx=mx, my=-mx, aim=mx * 6, fire=fire, tick=tick)
              for seq, mx, fire, tick, _ in inputs]
    log = InputLog(model)
    log.add(0, 1, "join", "ann")
    for i, (frame, (*_, flush_after)) in enumerate(zip(frames, inputs, strict=True)):
        log.add(i, 1, "input", "", frame)
        if flush_after:
            log.flush()
    one_by_one = b"".join(msgpack.packb(f.to_row(), use_bin_type=True) for f in frames)
    again = InputLog.from_bytes(log.to_bytes(), model)
    assert bytes(again._rows) == one_by_one
    assert [r.frame for r in list(log)[1:]] == frames == [r.frame for r in list(again)[1:]]
    taken = log.detach()
    assert [r.frame for r in list(taken)[1:]] == frames and list(log) == []
    log.add(7, 2, "input", "", model(seq=1, mx=0, my=0, aim=0, fire=False))
    assert [(r.tick, r.player_id, r.frame.seq) for r in log if r.frame] == [(7, 2, 1)]
    assert [r.frame for r in list(taken)[1:]] == frames  # the new row went to the new log
