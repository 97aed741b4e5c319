"""Rebuild a match from its seed and input log.

Because :class:`engine.match.Match` is deterministic, replaying the logged
calls at the ticks they were made reproduces the exact state (checkpoint
bytes) at any tick.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.config import GameConfig
from engine.inputlog import LogRecord
from engine.match import Match


def rebuild(config: GameConfig, seed: int, log: Iterable[LogRecord], upto_tick: int) -> Match:
    """The match as it was right after step ``upto_tick`` returned.

    Applies every record stamped before ``upto_tick`` (calls made after that
    step are not part of that state), stepping in between as the original did.
    """
    m = Match(config, seed)
    for rec in log:
        if rec.tick >= upto_tick:
            break
        while m.tick < rec.tick:
            m.step()
        if rec.kind == "join":
            m.add_player(rec.player_id, rec.name)
        elif rec.kind == "leave":
            m.remove_player(rec.player_id)
        elif rec.kind == "input":
            assert rec.frame is not None, "input records carry their frame"
            m.submit(rec.player_id, rec.frame)
        elif rec.kind == "reset":
            m.reset_inputs(rec.player_id)
        elif rec.kind == "start":
            m.start_now()
        else:
            m.end_now()
    while m.tick < upto_tick:
        m.step()
    return m
