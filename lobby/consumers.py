"""The lobby socket `/ws/lobby/` (JSON text frames)."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from lobby.auth import CLOSE_UNAUTHENTICATED, is_authenticated


class LobbyConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        if not is_authenticated(self.scope):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        user = self.scope["user"]
        await self.send_json({"type": "hello", "user": user.public})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"type": "error", "code": "not_implemented", "message": "soon"})
