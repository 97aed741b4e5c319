"""The receive loop of a process's hub channel (room hubs, the lobby hub)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Receiving(Protocol):
    """The one channel-layer call the loop makes."""

    async def receive(self, channel: str) -> dict[str, Any]: ...


async def receive_forever(
    layer: Receiving, channel: str, handle: Callable[[dict[str, Any]], Awaitable[None]]
) -> None:
    """Hand every message on `channel` to `handle`, until cancelled.

    A failing receive (Redis unreachable) is retried after half a second; a
    failing `handle` is logged and the loop goes on: one bad message never
    stops a process's hub.
    """
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("receiving on %s failed; retrying", channel)
            await asyncio.sleep(0.5)
            continue
        try:
            await handle(message)
        except Exception:
            logger.exception("message %s on %s failed", message.get("type"), channel)
