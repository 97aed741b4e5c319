"""One player's inputs between ``submit`` and ``step``, and the seq the protocol acks.

Every game keeps, per player, the same small piece of bookkeeping that the
wire contract (docs/protocol.md, ``acks``) and the :class:`engine.game.Game`
protocol define; :class:`InputQueue` is it, written once:

* :meth:`InputQueue.offer` (what ``submit`` does): an input whose ``seq`` is
  not above every seq queued or applied since the last reset is stale and
  refused (``False``, nothing changes); when ``max_len`` inputs wait, the
  oldest is dropped to make room (its seq is never acknowledged);
* :meth:`InputQueue.take` (in ``step``): the oldest inputs, at most
  ``limit``, in seq order; the last one taken becomes :attr:`applied`, the
  player's entry in ``acks``;
* :meth:`InputQueue.reset` (``reset_inputs``: a connection ended or began):
  drop what waits and restart the numbering (``applied`` is -1 until the
  next applied input);
* :meth:`InputQueue.state` and :meth:`InputQueue.restored`: the queue in a
  checkpoint as ``applied, queued, rows`` (rows as
  :meth:`engine.protocol.InputBase.to_row`), validated again on restore.

No I/O, no clock: a step that uses it stays a pure function of the calls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from engine.protocol import InputBase

InputT = TypeVar("InputT", bound=InputBase)


class InputQueue(Generic[InputT]):
    """A player's waiting inputs (oldest first) and the seqs applied and queued."""

    __slots__ = ("_waiting", "applied", "max_len", "queued")

    def __init__(self, max_len: int) -> None:
        if max_len < 1:
            raise ValueError(f"an input queue holds at least one input, not {max_len}")
        self.max_len = max_len
        self._waiting: deque[InputT] = deque()
        self.applied = -1
        """The seq of the last input taken since the last reset (the ack), -1 none."""
        self.queued = -1
        """The highest seq accepted since the last reset, -1 none."""

    def __len__(self) -> int:
        return len(self._waiting)

    def __iter__(self) -> Iterator[InputT]:
        """The waiting inputs, oldest first (they stay queued)."""
        return iter(self._waiting)

    def offer(self, inp: InputT) -> bool:
        """Queue ``inp``; False (nothing changes) if its seq is not above every seq seen."""
        if inp.seq <= self.queued:
            return False
        waiting = self._waiting
        if len(waiting) >= self.max_len:
            waiting.popleft()
        waiting.append(inp)
        self.queued = inp.seq
        return True

    def take(self, limit: int) -> list[InputT]:
        """The oldest waiting inputs, at most ``limit``; the last one's seq is now applied."""
        waiting = self._waiting
        if not waiting:
            return []
        if len(waiting) <= limit:
            taken = list(waiting)
            waiting.clear()
        else:
            taken = [waiting.popleft() for _ in range(limit)]
        self.applied = taken[-1].seq
        return taken

    def reset(self) -> None:
        """Drop every waiting input and restart the numbering (a new connection's seqs)."""
        self._waiting.clear()
        self.applied = self.queued = -1

    def state(self) -> list[Any]:
        """``[applied, queued, rows]`` for a checkpoint (rows oldest first)."""
        return [self.applied, self.queued, [inp.to_row() for inp in self._waiting]]

    @classmethod
    def restored(cls, model: type[InputT], max_len: int, applied: int, queued: int,
                 rows: Iterable[list[Any]]) -> InputQueue[InputT]:
        """The queue :meth:`state` described, its rows validated by ``model`` again.

        Raises ``ValueError`` (pydantic's ``ValidationError`` is one) for a row
        the model refuses or seqs that are not integers.
        """
        if type(applied) is not int or type(queued) is not int:
            raise ValueError(f"input queue seqs must be integers, got {applied!r}, {queued!r}")
        queue: InputQueue[InputT] = cls(max_len)
        queue._waiting.extend(model.from_row(row) for row in rows)
        queue.applied = applied
        queue.queued = queued
        return queue
