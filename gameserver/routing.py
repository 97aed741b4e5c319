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

websocket_urlpatterns = [
    re_path(rf"^ws/game/(?P<room_name>{ROOM_NAME_PATTERN})/$", GameConsumer.as_asgi()),
    # Channels' URLRouter routes ASGI applications through Django's path().
    path("ws/lobby/", LobbyConsumer.as_asgi()),  # type: ignore[arg-type]
]


def websocket_application() -> Any:
    """Close codes any server can send → origin check → session and token auth → routes."""
    return CloseCodeMiddleware(socket_auth(URLRouter(websocket_urlpatterns)))
