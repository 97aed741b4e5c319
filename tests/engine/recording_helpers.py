"""A room loop in miniature that records its matches, and recording surgery for tests."""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

from engine.arena.match import Match as ArenaMatch
from engine.game import AnyGame, Event, Game
from engine.inputlog import InputLog
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
