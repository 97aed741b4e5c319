"""Room-list pushes: every lobby socket hears the public list when it changes.

`lobby.signals.room_list_changed` marks the list dirty; each process pushes
`{"type": "rooms", "rooms": [...]}` to the `lobby` group at most once per
`ROOMS_PUSH_INTERVAL_SECONDS`, and only when the list differs from the last
one pushed by any process (its digest is shared in the database, so one
process pushes each change).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from gameserver.net.perloop import PerLoop
from lobby import push
from lobby.rooms import public_rooms

logger = logging.getLogger(__name__)

ROOMS_STATE_KEY = "rooms.digest"


def _digest(listing: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()


def _changed_list() -> list[dict[str, Any]] | None:
    """The public list if it differs from the last one pushed by any process, else None."""
    listing = public_rooms()
    changed = push.swap_state(ROOMS_STATE_KEY, _digest(listing), initial=_digest([]))
    return listing if changed else None


class RoomsPusher:
    """Coalesces room-list changes into at most one push per interval per process.

    `request()` may be called from anywhere. On an event loop it schedules
    that loop's push; inside `push.run_sync` (a database thread the loop is
    waiting on) it is handed to the loop, which schedules the push once the
    thread returns; from a truly synchronous caller (a view, a management
    command) it pushes at once if the list changed. Each loop keeps its own
    timer and task, so a loop that is gone (a finished test) leaves nothing
    behind that a later one could wait on.
    """

    def __init__(self) -> None:
        self._loops: PerLoop[_LoopPusher] = PerLoop(_LoopPusher)

    def request(self) -> None:
        """The public list may have changed: make sure a push follows."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self._loops.get().schedule()
            return
        if push.defer(self._arequest):
            return
        rooms = _changed_list()
        if rooms is not None:
            push.push(push.LOBBY_GROUP, {"type": "rooms", "rooms": rooms})

    async def _arequest(self) -> None:
        self._loops.get().schedule()


class _LoopPusher:
    """One loop's debounce state: a pending timer or a running push task."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._dirty = False
        self._last = 0.0

    def schedule(self) -> None:
        """On the loop: push now, or arm one timer for the end of the interval."""
        self._dirty = True
        if self._task is not None and not self._task.done():
            return  # the running push re-schedules itself if still dirty
        if self._timer is not None:
            return
        wait = self._last + float(settings.ARENA.rooms_push_interval_seconds) - time.monotonic()
        if wait > 0:
            # A timer, not a sleeping task: a loop that closes meanwhile drops
            # it silently instead of destroying a pending task.
            self._timer = asyncio.get_running_loop().call_later(wait, self._fire)
        else:
            self._fire()

    def _fire(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), context=contextvars.Context()
        )
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            logger.error("room list push failed", exc_info=task.exception())
        if self._dirty and not task.get_loop().is_closed():
            self.schedule()

    async def _run(self) -> None:
        self._dirty = False
        self._last = time.monotonic()
        rooms = await database_sync_to_async(_changed_list)()
        if rooms is not None:
            await push.apush(push.LOBBY_GROUP, {"type": "rooms", "rooms": rooms})


pusher = RoomsPusher()


def on_room_list_changed(sender: Any, **kwargs: Any) -> None:
    """`lobby.signals.room_list_changed` receiver (connected in gameserver/apps.py)."""
    pusher.request()
