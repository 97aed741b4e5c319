from __future__ import annotations

from django.urls import path

from lobby import accounts, views

urlpatterns = [
    path("session/guest", accounts.guest_session),
    path("session/logout", accounts.logout_session),
    path("session", accounts.me),
    path("games", views.games_view),
    path("rooms", views.rooms_view),
    path("matchmake", views.matchmake),
    path("chat/<str:channel>", views.chat_history),
    path("notifications", views.notification_list),
    path("notifications/read", views.notification_read),
    path("matches", views.match_list),
    path("matches/<int:match_id>/replay", views.match_replay),
    path("leaderboard", views.leaderboard),
]
