"""WebSocket URL routes of the whole server."""

from __future__ import annotations

from django.conf import settings
from django.urls import re_path

from lobby.routing import websocket_urlpatterns as lobby_routes


def _game_consumer() -> object:
    if settings.ARENA.arena_fanout == "textbook":
        from gameserver.textbook import TextbookGameConsumer

        return TextbookGameConsumer
    from gameserver.consumers import GameConsumer

    return GameConsumer


websocket_urlpatterns = [
    re_path(r"^ws/game/(?P<room_name>[A-Za-z0-9_-]{1,64})/$",
            _game_consumer().as_asgi()),  # type: ignore[attr-defined]
    *lobby_routes,
]
