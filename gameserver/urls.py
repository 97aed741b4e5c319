from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from gameserver import monitor, views

urlpatterns = [
    path("healthz", views.healthz),
    path("metrics", views.metrics_view),
    path("staff/rooms/", monitor.rooms_page, name="staff-rooms"),
    path("staff/rooms.json", monitor.rooms_json, name="staff-rooms-json"),
    path("staff/rooms/kick", monitor.kick, name="staff-rooms-kick"),
    path("staff/rooms/close", monitor.close, name="staff-rooms-close"),
    path("staff/rooms/announce", monitor.announce, name="staff-rooms-announce"),
    path("api/", include("lobby.urls")),
    path("admin/", admin.site.urls),
    path("", include("client.urls")),
]

handler400 = "lobby.http.bad_request"
handler403 = "lobby.http.permission_denied"
handler404 = "lobby.http.not_found"
handler500 = "lobby.http.server_error"
