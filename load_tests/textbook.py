"""The textbook Channels pattern, kept only so benchmarks can measure it.

`daphne load_tests.textbook:application` serves the project with this game
consumer in place of the real one (`make bench`'s `textbook` run). Every
socket's consumer has its own
channel in the room group, so each snapshot becomes one channel-layer
message, one queue wake-up and one consumer dispatch (with Channels' thread
hop) per player per tick: the pattern docs/benchmarks.md measured collapsing at a few
hundred players. Never use it in production.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gameserver.settings")

from channels import DEFAULT_CHANNEL_LAYER
from channels.consumer import AsyncConsumer
from channels.routing import ProtocolTypeRouter

from gameserver import asgi, routing
from gameserver.consumers import GameConsumer
from gameserver.relay import group_name


class TextbookGameConsumer(GameConsumer):
    channel_layer_alias = DEFAULT_CHANNEL_LAYER
    # GameConsumer.__call__ takes an untyped scope (gameserver/consumers.py).
    __call__ = AsyncConsumer.__call__
    fast_inbound = False
    dispatch = AsyncConsumer.dispatch
    got_full = False

    async def _enter(self) -> bool:
        engine = await self.manager._route(self.room)
        assert engine is not None, "the textbook pattern runs in one process only"
        resumed = False if self.spectator else engine.join(self.user_id, self.user_name)
        await self.channel_layer.group_add(group_name(self.room), self.channel_name)
        self.manager.request_full(self.room)
        return resumed

    async def _exit(self) -> None:
        await self.channel_layer.group_discard(group_name(self.room), self.channel_name)
        engine = self.manager.engines.get(self.room)
        if engine is not None and not self.spectator:
            engine.leave(self.user_id)

    async def room_snapshot(self, message: dict[str, Any]) -> None:
        if not self.got_full:
            if message["full"] is None:
                self.manager.request_full(self.room)
                return
            self.got_full = True
            await self.send(bytes_data=message["full"])
            return
        if message["events"] is not None:
            await self.send(bytes_data=message["events"])
        await self.send(bytes_data=message["delta"])

    async def room_frame(self, message: dict[str, Any]) -> None:
        await self.send(bytes_data=message["data"])

    async def room_close(self, message: dict[str, Any]) -> None:
        if message.get("notice"):
            await self.send(bytes_data=message["notice"])
        await self.close(code=message.get("code", 4004))


application = ProtocolTypeRouter({
    "http": asgi.http_app,
    "websocket": routing.websocket_application(TextbookGameConsumer),
})
"""The project's ASGI application with the textbook game consumer."""
