"""Rebuild a match from its seed and input log.

Because every game is deterministic, replaying the logged calls at the ticks
they were made reproduces the exact state (checkpoint bytes) at any tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from engine.inputlog import LogRecord

if TYPE_CHECKING:
    from engine.arena.config import GameConfig
    from engine.arena.match import Match
    from engine.game import Event, Game

G = TypeVar("G", bound="Game[Any]")


def apply(match: Game[Any], rec: LogRecord) -> list[Event]:
    """Make the one outside call ``rec`` describes on ``match``; the events it returns.

    Only ``start`` and ``end`` (staff calls) return events; the others return [].
    """
    if rec.kind == "join":
        match.add_player(rec.player_id, rec.name)
    elif rec.kind == "leave":
        match.remove_player(rec.player_id)
    elif rec.kind == "input":
        assert rec.frame is not None, "input records carry their frame"
        match.submit(rec.player_id, rec.frame)
    elif rec.kind == "reset":
        match.reset_inputs(rec.player_id)
    elif rec.kind == "start":
        return match.start_now()
    else:
        return match.end_now()
    return []


def run(match: G, log: Iterable[LogRecord], upto_tick: int) -> G:
    """Drive ``match`` (new, or restored where the log starts) through ``log`` to the state
    right after step ``upto_tick``.

    Applies every record stamped before ``upto_tick`` (calls made after that
    step are not part of that state), stepping in between as the original
    did, and returns ``match``.
    """
    for rec in log:
        if rec.tick >= upto_tick:
            break
        while match.tick < rec.tick:
            match.step()
        apply(match, rec)
    while match.tick < upto_tick:
        match.step()
    return match


def rebuild(config: GameConfig, seed: int, log: Iterable[LogRecord], upto_tick: int) -> Match:
    """The arena match as it was right after step ``upto_tick`` (see :func:`run`)."""
    from engine.arena.match import Match

    return run(Match(config, seed), log, upto_tick)
