"""Background tasks an owner spawns: kept, reaped, their failures logged, finished on close.

A task nobody references can be garbage-collected mid-flight, and an
exception in one nobody awaits is lost. A `TaskGroup` keeps a strong
reference to each task until it ends, logs a failure with the owner's name,
and on `finish()` lets the tasks run out (bounded) before cancelling the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

logger = logging.getLogger(__name__)


class TaskGroup:
    """The background tasks of one owner (a room, a consumer, a manager)."""

    __slots__ = ("_log", "_tasks", "owner")

    def __init__(self, owner: str, log: logging.Logger | None = None) -> None:
        self.owner = owner
        self._log = log or logger
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run `work` in the background on the running loop."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("%s: background work failed", self.owner, exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def finish(self, timeout: float | None = None) -> None:
        """Wait for the tasks (and any they spawn here); after `timeout` s cancel the rest."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._log.warning("%s: cancelling %d background tasks still running",
                                  self.owner, len(self._tasks))
                await self.cancel()
                return
            await asyncio.wait(set(self._tasks), timeout=left)

    async def cancel(self) -> None:
        """Cancel every task and wait until they are gone."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
