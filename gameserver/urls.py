from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from gameserver import monitor, views
from lobby.ratelimit import rate_limit

# The admin's login form is the one password check anyone can reach: its POSTs
# are limited per client IP. Listed before `admin/` so it is the view served.
admin_login = rate_limit(
    "admin_login", lambda: settings.ARENA.admin_login_rate_per_minute, by="ip",
    methods=("POST",),
)(admin.site.login)

urlpatterns = [
    path("healthz", views.healthz),
    path("metrics", views.metrics_view),
    path("staff/rooms/", monitor.rooms_page, name="staff-rooms"),
    path("staff/rooms.json", monitor.rooms_json, name="staff-rooms-json"),
    path("staff/rooms/kick", monitor.kick, name="staff-rooms-kick"),
    path("staff/rooms/close", monitor.close, name="staff-rooms-close"),
    path("staff/rooms/announce", monitor.announce, name="staff-rooms-announce"),
    path("api/", include("lobby.urls")),
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("", include("client.urls")),
]

handler400 = "lobby.http.bad_request"
handler403 = "lobby.http.permission_denied"
handler404 = "lobby.http.not_found"
handler500 = "lobby.http.server_error"
