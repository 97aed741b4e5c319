from __future__ import annotations

from django.apps import AppConfig


class GameserverConfig(AppConfig):
    name = "gameserver"
    verbose_name = "Game server"
