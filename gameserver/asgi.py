"""ASGI entry point: Django for HTTP, Channels for the game and lobby sockets."""

from __future__ import annotations

import gc
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gameserver.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

# Imported after Django is set up: they load models.
from channels.routing import ChannelNameRouter, ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from gameserver import affinity, routing  # noqa: E402
from gameserver.httphandler import SyncChainHandler  # noqa: E402
from gameserver.logs import ClientAddressMiddleware  # noqa: E402
from gameserver.workers import ensure_embedded  # noqa: E402
from lobby.outbox import TASK_CHANNEL  # noqa: E402
from lobby.tasks import TaskConsumer  # noqa: E402

SERVER_GC_THRESHOLDS = (20_000, 20, 20)
"""gen0 every 20,000 net allocations (CPython's default: 700)."""

# The server allocates many short-lived objects per frame (messages, dicts):
# collect the young generation less often, and keep everything loaded at
# start-up (Django, the app) out of every later full collection.
gc.set_threshold(*SERVER_GC_THRESHOLDS)
gc.freeze()

# CPU_AFFINITY: the process's threads, and every one started later, on those CPUs.
if settings.ARENA.cpu_set is not None:
    affinity.pin(settings.ARENA.cpu_set)


class StartRuntimeFirst:
    """With Redis, start this process's room runtime on its first request of any kind.

    The runtime (gameserver.manager) otherwise starts with the first game
    socket; its lease rounds also close rooms whose engine died with another
    process and free their seats (docs/scaling.md), which a process serving
    only HTTP and lobby sockets must do too. Without Redis nothing changes:
    a single process resets the room list when its first game socket starts it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.enabled = bool(settings.ARENA.redis_urls)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.enabled and scope["type"] in {"http", "websocket"}:
            from gameserver.manager import get_manager

            await get_manager().start()
        await self.app(scope, receive, send)


django_http = SyncChainHandler()
"""Django for HTTP requests (gameserver/httphandler.py)."""


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Django; without Redis the first request also starts the in-process task worker,
    so a backlog left by an earlier run is picked up at once (gameserver/workers.py)."""
    ensure_embedded()
    await django_http.serve(scope, receive, send)


application = ClientAddressMiddleware(StartRuntimeFirst(ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": routing.websocket_application(),
        # Task consumers: `manage.py runworker arena-tasks` runs them (docs/tasks.md).
        "channel": ChannelNameRouter({TASK_CHANNEL: TaskConsumer.as_asgi()}),
    }
)))
