from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from gameserver import views

urlpatterns = [
    path("healthz", views.healthz),
    path("api/", include("lobby.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "lobby.http.bad_request"
handler403 = "lobby.http.permission_denied"
handler404 = "lobby.http.not_found"
handler500 = "lobby.http.server_error"
