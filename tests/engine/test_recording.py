"""Match recordings (engine/recording.py): what a room records re-simulates exactly.

A small room loop drives matches the way gameserver/room.py does (staff
calls' events reach the recorder with the next step's) with bots that move,
aim at the nearest player and fire, so matches have deaths, kills and
pickups; players join, leave and reconnect mid-match.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest

from engine import recording
from engine.arena import GAME as ARENA
from engine.arena.match import Match as ArenaMatch
from engine.game import AnyGame, Event, Game
from engine.inputlog import InputLog
from engine.paddle import GAME as PADDLE
from engine.recording import Recorder, Recording

SMALL_ARENA: dict[str, Any] = {
    "map_width": 480, "map_height": 320, "walls": ((220, 120, 40, 80),),
    "spawn_points": ((40, 40), (440, 40), (40, 280), (440, 280), (240, 40), (240, 280)),
    "pickup_spots": ((120, 160), (360, 160), (240, 100)), "pickup_interval_s": 0.5,
    "spawn_clear_radius": 30.0, "min_players": 2, "countdown_s": 0.5, "match_s": 30.0,
    "score_limit": 6, "respawn_s": 0.5, "ended_s": 0.5,
}


def by_id(definition: AnyGame) -> dict[str, AnyGame]:
    return {definition.info.id: definition}


class Room:
    """The room's loop in miniature: calls between steps, the recorder after each step."""

    def __init__(self, definition: AnyGame, config: Any, seed: int,
                 match: Game[Any] | None = None, every: int = 5) -> None:
        self.definition = definition
        self.match = match or definition.create(config, seed, True)
        self.recorder = Recorder(definition, config, self.match, checksum_every=every)
        self.finished: list[Recording] = []
        self.events: list[Event] = []
        self.staff: list[Event] = []
        self.seqs: dict[int, int] = {}
        self.rng = random.Random(seed)

    def join(self, pid: int) -> None:
        if pid in self.match.player_ids():
            self.match.reset_inputs(pid)  # a reconnect: a new connection, a new seq stream
        else:
            self.match.add_player(pid, f"p{pid}")
        self.seqs[pid] = 0

    def step(self) -> None:
        evts = [*self.staff, *self.match.step()]
        self.staff.clear()
        self.events.extend(evts)
        done = self.recorder.after_step(evts)
        if done is not None:
            self.finished.append(done)

    def arena_inputs(self) -> None:
        m = self.match
        assert isinstance(m, ArenaMatch)
        states = [m.player_state(pid) for pid in m.player_ids()]
        spots = {s.player_id: (s.x, s.y) for s in states if s.alive}
        for pid in self.seqs:
            me = spots.get(pid, (0.0, 0.0))
            others = [xy for other, xy in spots.items() if other != pid]
            aim = 0.0
            if others:
                tx, ty = min(others, key=lambda xy: math.dist(xy, me))
                aim = math.atan2(ty - me[1], tx - me[0])
            mx, my = self.rng.uniform(-1, 1), self.rng.uniform(-1, 1)
            items = [(x, y) for _, x, y, _ in m.pickups()]
            if items and pid % 2:  # odd players go for the pickups
                tx, ty = min(items, key=lambda xy: math.dist(xy, me))
                d = max(1.0, math.dist((tx, ty), me))
                mx, my = (tx - me[0]) / d, (ty - me[1]) / d
            self.submit(pid, {"mx": mx, "my": my, "aim": aim, "fire": self.rng.random() < 0.5})

    def submit(self, pid: int, payload: dict[str, Any]) -> None:
        self.seqs[pid] += 1
        self.match.submit(pid, self.definition.parse_input({**payload, "seq": self.seqs[pid]}))


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


def tampered(rec: Recording, at: int, definition: AnyGame) -> Recording:
    """`rec` with the first input stamped `at` turned around (stick and aim reversed)."""
    log = InputLog(definition.input_model)
    flipped = False
    for r in rec.records():
        frame = r.frame
        if r.kind == "input" and r.tick == at and not flipped and frame is not None:
            row = frame.to_row()
            fields = frame.row_fields()
            for name in ("mx", "my"):
                i = fields.index(name)
                row[i] = -row[i] if row[i] else 1.0
            frame = definition.input_model.from_row(row)
            flipped = True
        log.add(r.tick, r.player_id, r.kind, r.name, frame)
    assert flipped, f"no input at tick {at}"
    return dataclasses.replace(rec, log=log)


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
