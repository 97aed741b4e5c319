"""The record of everything that changed a match from outside.

A game appends one :class:`LogRecord` per accepted call of ``add_player`` /
``remove_player`` / ``submit`` / ``reset_inputs`` / ``start_now`` /
``end_now`` (the last two with player id 0), stamped with the tick at which
the call was made (the number of steps taken before it). Together with the
config and seed this is enough to rebuild any tick (:func:`engine.replay.run`).
The log is game-agnostic: an input is stored as its model's row
(:meth:`engine.protocol.InputBase.to_row`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

import msgpack

from engine.protocol import InputBase

RecordKind = Literal["join", "leave", "input", "reset", "start", "end"]


class LogRecord(NamedTuple):
    """One outside call: ``(tick, player_id, kind, name, frame)``.

    ``name`` is set for ``join``; ``frame`` for ``input``.
    """

    tick: int
    player_id: int
    kind: RecordKind
    name: str = ""
    frame: InputBase | None = None


class InputLog:
    """An append-only list of :class:`LogRecord` in call order."""

    def __init__(self, records: list[LogRecord] | None = None) -> None:
        self._records: list[LogRecord] = list(records or [])

    def append(self, record: LogRecord) -> None:
        """Add a record at the end (records must be in call order)."""
        self._records.append(record)

    def __iter__(self) -> Iterator[LogRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> LogRecord:
        return self._records[index]

    def clear(self) -> None:
        """Forget every record (e.g. when the runtime archives a finished match)."""
        self._records.clear()

    def to_bytes(self) -> bytes:
        """Serialise (msgpack) for storage; inverse of :meth:`from_bytes`."""
        rows: list[list[Any]] = []
        for r in self._records:
            frame = None if r.frame is None else r.frame.to_row()
            rows.append([r.tick, r.player_id, r.kind, r.name, frame])
        packed: bytes = msgpack.packb(rows, use_bin_type=True)
        return packed

    @classmethod
    def from_bytes(cls, data: bytes, input_model: type[InputBase]) -> InputLog:
        """Rebuild a log written by :meth:`to_bytes`; inputs become ``input_model``s."""
        log = cls()
        for tick, pid, kind, name, frame in msgpack.unpackb(data, raw=False):
            inp = None if frame is None else input_model.from_row(frame)
            log.append(LogRecord(tick, pid, kind, name, inp))
        return log
