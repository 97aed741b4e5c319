"""The record of everything that changed a match from outside.

A game calls :meth:`InputLog.add` once per accepted call of ``add_player`` /
``remove_player`` / ``submit`` / ``reset_inputs`` / ``start_now`` /
``end_now`` (the last two with player id 0), stamped with the tick at which
the call was made (the number of steps taken before it). Together with the
match's starting state (config and seed, or a checkpoint) this is enough to
rebuild any tick (:func:`engine.replay.run`).

The log is columnar so that it can stay on in a running server: no object
is kept per call. Ticks, player ids and kinds go into ``array``s; an
input's payload is its model's row (:meth:`engine.protocol.InputBase.to_row`)
packed with msgpack into one growing ``bytearray``; join names into a list.
Iterating decodes the calls back into :class:`LogRecord` s.

Each input's row is packed as it is added, into a msgpack packer that keeps
its bytes (no ``bytes`` object per input), while the frame just parsed is
still at hand; :meth:`InputLog.flush` moves the packer's bytes into the rows
column, and every reader flushes first. (Until session 9 the frames waited
and a tick's rows were packed in one call after the step: cheaper in a loop
of its own, but under load at 1,000 players py-spy saw the log take 3.9 %
of the process against 2.7 % now, and whole-process CPU could not tell the
two apart: docs/benchmarks.md "Session 9". This way is the simpler.)
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any, Final, Literal, NamedTuple

import msgpack

from engine.protocol import InputBase

RecordKind = Literal["join", "leave", "input", "reset", "start", "end"]

KINDS: Final[tuple[RecordKind, ...]] = ("join", "leave", "input", "reset", "start", "end")
_CODES: Final[dict[str, int]] = {kind: code for code, kind in enumerate(KINDS)}
_INPUT: Final = _CODES["input"]
_JOIN: Final = _CODES["join"]
FORMAT: Final = 1
"""Version of :meth:`InputLog.to_bytes`' layout."""


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
    """An append-only, columnar log of outside calls in call order.

    ``input_model`` turns stored rows back into frames when iterating.
    """

    __slots__ = ("_kinds", "_names", "_pack", "_packer", "_pids", "_row", "_rows", "_ticks",
                 "input_model")

    def __init__(self, input_model: type[InputBase]) -> None:
        self.input_model = input_model
        fields = input_model.row_fields()
        # The row (InputBase.to_row) as a tuple, read by one C call per input.
        get = attrgetter(*fields)
        self._row: Callable[[InputBase], Any] = (
            get if len(fields) > 1 else lambda frame: (get(frame),))
        self._ticks = array("I")
        self._pids = array("q")
        self._kinds = bytearray()
        self._names: list[str] = []
        self._rows = bytearray()
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=False)
        self._pack = self._packer.pack

    def add(self, tick: int, player_id: int, kind: RecordKind, name: str = "",
            frame: InputBase | None = None) -> None:
        """Append one call (calls must be added in the order they were made)."""
        code = _CODES[kind]
        self._ticks.append(tick)
        self._pids.append(player_id)
        self._kinds.append(code)
        if code == _INPUT:
            assert frame is not None, "input records carry their frame"
            self._pack(self._row(frame))
        elif code == _JOIN:
            self._names.append(name)

    def flush(self) -> None:
        """Move the rows packed since the last flush into the rows column."""
        packer = self._packer
        with packer.getbuffer() as packed:
            if not packed:
                return
            self._rows += packed
        packer.reset()

    def __len__(self) -> int:
        return len(self._kinds)

    def __iter__(self) -> Iterator[LogRecord]:
        self.flush()
        rows = msgpack.Unpacker(raw=False)
        rows.feed(bytes(self._rows))
        names = iter(self._names)
        from_row = self.input_model.from_row
        for tick, pid, code in zip(self._ticks, self._pids, self._kinds, strict=True):
            kind = KINDS[code]
            if code == _INPUT:
                yield LogRecord(tick, pid, kind, "", from_row(next(rows)))
            elif code == _JOIN:
                yield LogRecord(tick, pid, kind, next(names))
            else:
                yield LogRecord(tick, pid, kind)

    def nbytes(self) -> int:
        """Bytes held by the columns (what a running room pays for recording)."""
        self.flush()
        return (len(self._ticks) * self._ticks.itemsize + len(self._pids) * self._pids.itemsize
                + len(self._kinds) + len(self._rows) + sum(len(n) for n in self._names))

    def clear(self) -> None:
        """Forget every record (a new recording starts)."""
        self._packer.reset()
        self._ticks = array("I")
        self._pids = array("q")
        self._kinds = bytearray()
        self._names = []
        self._rows = bytearray()

    def detach(self) -> InputLog:
        """A log holding every record so far; this one starts empty (no copy is made)."""
        self.flush()
        taken = InputLog(self.input_model)
        taken._ticks, taken._pids, taken._kinds = self._ticks, self._pids, self._kinds
        taken._names, taken._rows = self._names, self._rows
        self.clear()
        return taken

    def to_bytes(self) -> bytes:
        """Serialise (msgpack of the columns) for storage; inverse of :meth:`from_bytes`."""
        self.flush()
        doc: dict[str, Any] = {
            "log": FORMAT, "ticks": self._ticks.tobytes(), "pids": self._pids.tobytes(),
            "kinds": bytes(self._kinds), "names": self._names, "rows": bytes(self._rows),
        }
        packed: bytes = msgpack.packb(doc, use_bin_type=True)
        return packed

    @classmethod
    def from_bytes(cls, data: bytes, input_model: type[InputBase]) -> InputLog:
        """Rebuild a log written by :meth:`to_bytes`; inputs become ``input_model`` s.

        Raises ``ValueError`` on bytes that are not such a log.
        """
        try:
            doc = msgpack.unpackb(data, raw=False)
            if not isinstance(doc, dict) or doc.get("log") != FORMAT:
                raise ValueError(f"not an input log of format {FORMAT}")
            log = cls(input_model)
            log._ticks.frombytes(doc["ticks"])
            log._pids.frombytes(doc["pids"])
            log._kinds = bytearray(doc["kinds"])
            log._names = [str(n) for n in doc["names"]]
            log._rows = bytearray(doc["rows"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed input log: {exc}") from None
        if not len(log._ticks) == len(log._pids) == len(log._kinds) or any(
            code >= len(KINDS) for code in log._kinds
        ):
            raise ValueError("malformed input log: columns disagree")
        return log
