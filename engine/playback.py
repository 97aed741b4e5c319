"""The playback document of a recorded match: what the replay viewer plays.

:func:`build_playback` re-simulates a match from its config, seed and the
records of its outside calls (:class:`engine.inputlog.LogRecord`, as
:func:`engine.replay.run` consumes them) and returns one plain dict
(``docs/protocol.md`` "Replay document"):

* ``frames``: one snapshot per snapshot interval, exactly the ``snap`` maps
  the live game socket sends for that game (the game's ``snapshot()``, and
  its codec's ``diff`` against the frame before); every
  ``keyframe_interval`` ticks a full snapshot (a keyframe), otherwise a delta.
  A viewer seeks by taking the last keyframe at or before the target and
  applying the deltas after it;
* ``events``: every event of the match as the live ``events`` frame carries
  it (``{"t": "event", "kind", "tick", ...}``), in order;
* ``results``: the match's standings at the end (:meth:`Game.results`).

The match is played from a new match of ``config`` and ``seed``, or from
``origin`` (a checkpoint, e.g. a recording's start when the playing phase
began) when given. Frame ticks follow the live room's: the state right after
step ``T`` for ``T`` a multiple of ``tick_rate / snapshot_rate``, from the
first such tick after the start (after the first recorded call, when the
start has no players yet) to ``last_tick`` (always the last frame, even off
that grid). Pure: no Django, asyncio or clocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine import replay
from engine.errors import EngineError
from engine.game import AnyGame, Event, Game
from engine.inputlog import LogRecord

DOCUMENT_VERSION = 1
"""``v`` of the playback document; bumped when its shape changes incompatibly."""


class PlaybackError(ValueError):
    """The records cannot be played back (out of order, or a call the match refuses)."""


def frame_ticks(first_tick: int, last_tick: int, every: int) -> list[int]:
    """The ticks of the frames: ``first_tick`` then every ``every`` ticks, and ``last_tick``."""
    ticks = list(range(first_tick, last_tick + 1, every))
    if not ticks or ticks[-1] != last_tick:
        ticks.append(last_tick)
    return ticks


def build_playback(
    definition: AnyGame,
    config: Any,
    seed: int,
    records: Iterable[LogRecord],
    last_tick: int,
    *,
    match_id: int,
    room: str,
    keyframe_seconds: float = 5,
    origin: bytes | None = None,
) -> dict[str, Any]:
    """The playback document of the match ``records`` describe, up to ``last_tick``.

    ``records`` are in call order (as a game's input log keeps them); the
    state of tick ``T`` includes every call stamped before ``T``. ``origin``:
    the checkpoint to start from instead of a new match (``config`` still
    gives the rates; it must be the checkpoint's). Raises
    :class:`PlaybackError` for a ``last_tick`` before the start,
    ``keyframe_seconds`` <= 0, an unreadable ``origin``, records out of tick
    order, or a record the re-simulated match refuses (the recording does not
    belong to this game, config, seed or origin).
    """
    try:
        match = (definition.create(config, seed, False) if origin is None
                 else definition.restore(origin, False))
    except EngineError as err:
        raise PlaybackError(f"cannot start the match: {err}") from None
    if last_tick < match.tick:
        raise PlaybackError(f"last_tick must be >= {match.tick}, not {last_tick}")
    if not keyframe_seconds > 0:
        raise PlaybackError(f"keyframe_seconds must be > 0, not {keyframe_seconds}")
    tick_rate = int(config.tick_rate)
    snapshot_rate = int(config.snapshot_rate)
    every = max(1, tick_rate // snapshot_rate)
    frames_per_key = max(1, round(keyframe_seconds * snapshot_rate))
    pending = list(records)
    begin = match.tick
    if pending and not match.player_ids():
        begin = max(begin, pending[0].tick)
    first_tick = min(last_tick, (begin // every + 1) * every)

    codec = definition.codec
    players = {pid: match.player_name(pid) for pid in match.player_ids()}
    events: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []
    keyframes: list[int] = []
    prev: dict[str, Any] | None = None
    next_rec = 0

    def step_to(tick: int) -> None:
        while match.tick < tick:
            events.extend(e.to_wire() for e in match.step())

    for index, tick in enumerate(frame_ticks(first_tick, last_tick, every)):
        while next_rec < len(pending) and pending[next_rec].tick < tick:
            rec = pending[next_rec]
            next_rec += 1
            if rec.tick < match.tick:
                raise PlaybackError(
                    f"record {next_rec - 1} is stamped tick {rec.tick}, after tick {match.tick}"
                )
            step_to(rec.tick)
            events.extend(e.to_wire() for e in _apply(match, rec))
            if rec.kind == "join":
                players.setdefault(rec.player_id, rec.name)
        step_to(tick)
        full = match.snapshot()
        if index % frames_per_key == 0:
            keyframes.append(index)
            frames.append(full)
        else:
            assert prev is not None
            frames.append(codec.diff(prev, full))
        prev = full

    return {
        "t": "replay",
        "v": DOCUMENT_VERSION,
        "match_id": match_id,
        "game": definition.info.id,
        "room": room,
        "tick_rate": tick_rate,
        "snapshot_rate": snapshot_rate,
        "first_tick": first_tick,
        "last_tick": last_tick,
        "keyframe_interval": frames_per_key * every,
        "players": [{"id": pid, "name": name} for pid, name in players.items()],
        "frames": frames,
        "keyframes": keyframes,
        "events": events,
        "results": match.results(),
    }


def _apply(match: Game[Any], rec: LogRecord) -> list[Event]:
    """:func:`engine.replay.apply`, a refusal turned into a :class:`PlaybackError`."""
    try:
        return replay.apply(match, rec)
    except EngineError as err:
        raise PlaybackError(
            f"tick {rec.tick}: {rec.kind} of player {rec.player_id} was refused ({err})"
        ) from None
