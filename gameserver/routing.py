"""The WebSocket application of the whole server: its middleware and URL routes."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import path, re_path

from engine.protocol import ROOM_NAME_PATTERN
from gameserver.consumers import GameConsumer
from gameserver.lobby_socket import LobbyConsumer
from gameserver.net.close_middleware import CloseCodeMiddleware
from lobby.auth import socket_auth


def websocket_urlpatterns(game_consumer: type[GameConsumer] = GameConsumer) -> list[Any]:
    """The socket routes: `/ws/game/<room>/` to `game_consumer`, `/ws/lobby/`."""
    # Channels' URLRouter routes ASGI applications through Django's path().
    return [
        re_path(rf"^ws/game/(?P<room_name>{ROOM_NAME_PATTERN})/$",
                game_consumer.as_asgi()),  # type: ignore[arg-type]
        path("ws/lobby/", LobbyConsumer.as_asgi()),  # type: ignore[arg-type]
    ]


def websocket_application(game_consumer: type[GameConsumer] = GameConsumer) -> Any:
    """Close codes any server can send → origin check → session and token auth → routes.

    `game_consumer` is the game socket's consumer (the benchmark's textbook
    pattern, load_tests/textbook.py, passes its own).
    """
    return CloseCodeMiddleware(socket_auth(URLRouter(websocket_urlpatterns(game_consumer))))
