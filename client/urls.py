"""Pages of the browser client; included at the site root by gameserver/urls.py."""

from __future__ import annotations

from django.urls import path, re_path

from client import views

app_name = "client"

urlpatterns = [
    path("", views.lobby, name="lobby"),
    # Same room-name rule as the game socket route: 1-64 of A-Z a-z 0-9 _ -.
    re_path(r"^play/(?P<room_name>[A-Za-z0-9_-]{1,64})/$", views.play, name="play"),
]
