"""WebSocket URL routes of the whole server."""

from __future__ import annotations

from lobby.routing import websocket_urlpatterns as lobby_routes

websocket_urlpatterns = [*lobby_routes]
