"""Where task consumers run: worker processes on Redis, or the server process embedded.

- With Redis (`REDIS_URL` set): `python manage.py runworker arena-tasks`
  processes (gameserver/management/commands/runworker.py) receive the
  channel through Channels' own `Worker`, and `run_sweeper_in_worker`
  runs the sweeper beside it. The server processes run no consumer.
- Embedded (no Redis): the in-process channel layer cannot be shared with
  another process, so `ensure_embedded()` starts, on the running loop of the
  server process, the same `TaskConsumer` fed from `TASK_CHANNEL` the way
  Channels' `Worker` feeds it, plus the sweeper. It is called on every HTTP
  request (gameserver/asgi.py), when the room runtime starts and when a task
  is sent, so a backlog left by an earlier run is picked up as soon as the
  server answers its first request (a health check will do).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from gameserver.net.perloop import PerLoop
from lobby import push
from lobby.outbox import TASK_CHANNEL

logger = logging.getLogger(__name__)


def embedded() -> bool:
    """True when tasks run inside the server process (no Redis)."""
    return not settings.ARENA.redis_urls


class EmbeddedWorker:
    """The consumer and the sweeper of one event loop (one server process)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def start(self) -> None:
        if self.tasks:
            return
        from lobby.tasks import sweep_forever

        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._feed(), name="task-consumer"),
            loop.create_task(sweep_forever(), name="task-sweeper"),
        ]
        for task in self.tasks:
            task.add_done_callback(_report)

    async def _feed(self) -> None:
        """Channels' Worker loop for one channel: receive, hand to the consumer instance."""
        from lobby.tasks import TaskConsumer

        layer = push.channel_layer()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def no_send(message: dict[str, Any]) -> None:
            raise RuntimeError("task consumers send nothing to a client")

        # A channel-type scope (Channels' own) is none of asgiref's typed ASGI scopes.
        application: Callable[..., Awaitable[None]] = TaskConsumer.as_asgi()
        instance = asyncio.ensure_future(
            application({"type": "channel", "channel": TASK_CHANNEL}, queue.get, no_send)
        )
        try:
            while True:
                message = await layer.receive(TASK_CHANNEL)
                await queue.put(message)
                if instance.done():
                    instance.result()  # surfaces the consumer's crash
        finally:
            instance.cancel()
            await asyncio.gather(instance, return_exceptions=True)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []


def _report(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("embedded task worker stopped", exc_info=task.exception())


_embedded = PerLoop(EmbeddedWorker)


def ensure_embedded() -> None:
    """In the embedded mode, start this loop's consumer and sweeper (idempotent)."""
    if embedded():
        try:
            _embedded.get().start()
        except RuntimeError:  # no running loop: nothing can run here
            pass


async def stop_embedded() -> None:
    """Stop this loop's embedded consumer and sweeper, if it runs one (tests, shutdown)."""
    worker = _embedded.peek()
    if worker is not None:
        await worker.stop()


async def run_sweeper_in_worker() -> None:
    """The sweeper of a `runworker` process (runs until cancelled)."""
    from lobby.tasks import sweep_forever

    await sweep_forever()
