"""Shared helpers for the engine tests (public API only)."""

from __future__ import annotations

import math
from typing import Any

from engine.arena import GameConfig, Match
from engine.arena.inputs import InputFrame

# A small open arena: no walls, spawn points far apart and known.
OPEN: dict[str, Any] = {
    "walls": (),
    "spawn_points": ((200, 500), (400, 500)),
    "pickup_spots": (),
    "spawn_clear_radius": 50.0,
    "min_players": 1,
}


def config(**overrides: Any) -> GameConfig:
    """The open arena config with overrides."""
    return GameConfig(**{**OPEN, **overrides})


def inp(
    seq: int, mx: float = 0.0, my: float = 0.0, aim: float = 0.0, fire: bool = False,
    tick: int | None = None,
) -> InputFrame:
    return InputFrame(seq=seq, mx=mx, my=my, aim=aim, fire=fire, tick=tick)


class Driver:
    """Feeds inputs with increasing seqs per player."""

    def __init__(self, m: Match) -> None:
        self.m = m
        self.seq: dict[int, int] = {}

    def send(self, pid: int, **kw: Any) -> bool:
        s = self.seq.get(pid, 0)
        self.seq[pid] = s + 1
        return self.m.submit(pid, inp(s, **kw))

    def aim_at(self, shooter: int, target: int) -> float:
        a = self.m.player_state(shooter)
        b = self.m.player_state(target)
        return math.atan2(b.y - a.y, b.x - a.x)


def playing_match(n: int = 2, seed: int = 1, **overrides: Any) -> Match:
    """A match in PLAYING with players 1..n."""
    m = Match(config(**overrides), seed)
    for pid in range(1, n + 1):
        m.add_player(pid, f"p{pid}")
    m.start_now()
    return m
