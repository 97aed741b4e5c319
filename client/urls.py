"""Pages of the browser client; included at the site root by gameserver/urls.py."""

from __future__ import annotations

from django.urls import path, re_path

from client import views
from engine.protocol import ROOM_NAME_PATTERN

app_name = "client"

urlpatterns = [
    path("", views.lobby, name="lobby"),
    # Same room-name rule as the game socket route: 1-64 of A-Z a-z 0-9 _ -.
    re_path(rf"^play/(?P<room_name>{ROOM_NAME_PATTERN})/$", views.play, name="play"),
    path("replay/<int:match_id>/", views.replay, name="replay"),
]
