"""Players' joins, taken by the database thread in batches.

Every game socket's join is one call on the process's single database
thread (`lobby.push.run_sync`). In a join storm (a launch, a tournament
start) sockets arrive faster than one call per join can serve them; the
joins that queue while the thread is busy are then taken together by
`lobby.rooms.join_many`: one transaction and one commit, one query for the
tokens' users, one lock and one seats read per room, instead of all of that
per join. A join that finds the thread idle goes at once, alone: batching
adds no wait.

Each join gets the answer `lobby.rooms.join` would have given it (a refusal
is that socket's alone). A socket that goes away while its join still
waits is dropped from the batch, so it takes no seat.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING

from gameserver.net.perloop import PerLoop
from lobby import push
from lobby import rooms as lobby_rooms
from lobby.rooms import JoinRequest, JoinResult, Who

if TYPE_CHECKING:
    from lobby.models import Room, User

Joined = tuple["User", "Room"]

MAX_BATCH = 100
"""Joins taken in one database call at most (one transaction holds each room's lock)."""


class JoinQueue:
    """One event loop's waiting joins and the task that hands them to the database thread."""

    def __init__(self) -> None:
        self._waiting: list[tuple[JoinRequest, asyncio.Future[Joined]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        """Database calls made (for tests and profiling)."""

    async def join(self, request: JoinRequest) -> Joined:
        """`lobby.rooms.join` for one player's socket, batched with those waiting beside it."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Joined] = loop.create_future()
        self._waiting.append((request, answer))
        if self._task is None:
            # A context of its own: the batch runs for many sockets, none of
            # whose context variables (a log's client address) it should carry.
            self._task = loop.create_task(self._drain(), context=contextvars.Context())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._waiting:
                taken = [(r, a) for r, a in self._waiting[:MAX_BATCH] if not a.done()]
                del self._waiting[:MAX_BATCH]
                if taken:
                    await self._run(taken)
        finally:
            self._task = None
            for _, answer in self._waiting:  # only when cancelled (the loop is closing)
                answer.cancel()
            self._waiting.clear()

    async def _run(self, taken: list[tuple[JoinRequest, asyncio.Future[Joined]]]) -> None:
        self.batches += 1
        try:
            results: list[JoinResult] = await push.run_sync(
                lobby_rooms.join_many, [r for r, _ in taken])
        except asyncio.CancelledError:
            for _, answer in taken:
                answer.cancel()
            raise
        except Exception as exc:
            results = [exc] * len(taken)
        for (_, answer), result in zip(taken, results, strict=True):
            if answer.done():
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)


queues = PerLoop(JoinQueue)


async def ajoin(name: str, who: Who, *, game: str | None = None, invite: str | None = None,
                spectator: bool = False) -> Joined:
    """`lobby.rooms.ajoin`, with players' joins batched (spectators take no seat: alone)."""
    if spectator:
        return await lobby_rooms.ajoin(name, who, game=game, invite=invite, spectator=True)
    return await queues.get().join(JoinRequest(name, who, game, invite))
