"""`python manage.py runworker arena-tasks`: Channels' worker, plus the task sweeper.

Channels' own `runworker` creates a channel's consumer only when its first
message arrives, so a worker started beside a backlog whose messages were
lost would wait forever. This command is Channels' command with one
addition: when it listens on the task channel it also runs the outbox
sweeper (lobby/tasks.py), which re-sends due tasks, and it serves the task
metrics on `WORKER_METRICS_PORT` when that is set. It takes precedence over
Channels' command because `gameserver` is listed before `channels` in
INSTALLED_APPS.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.management.commands.runworker import Command as ChannelsRunworker
from channels.worker import Worker
from django.conf import settings

from lobby.outbox import TASK_CHANNEL


class TaskWorker(Worker):
    """Channels' Worker; on the task channel it also runs the sweeper."""

    async def handle(self) -> None:
        sweeper: asyncio.Task[None] | None = None
        if TASK_CHANNEL in self.channels:
            from gameserver.workers import run_sweeper_in_worker

            sweeper = asyncio.ensure_future(run_sweeper_in_worker())
        try:
            await super().handle()
        finally:
            if sweeper is not None:
                sweeper.cancel()
                await asyncio.gather(sweeper, return_exceptions=True)


class Command(ChannelsRunworker):
    help = "Run a Channels worker; on arena-tasks also the outbox sweeper (docs/tasks.md)."
    worker_class = TaskWorker

    def handle(self, *args: Any, **options: Any) -> None:
        port = int(settings.ARENA.worker_metrics_port)
        if port and TASK_CHANNEL in options.get("channels", ()):
            from prometheus_client import start_http_server

            start_http_server(port, addr="127.0.0.1")
        super().handle(*args, **options)
