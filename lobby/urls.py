from __future__ import annotations

from django.urls import path

from lobby import accounts

urlpatterns = [
    path("session/guest", accounts.guest_session),
    path("session", accounts.me),
]
