from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_save


def _count_chat(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        from gameserver import metrics

        metrics.CHAT_MESSAGES.labels(metrics.chat_channel_kind(instance.channel)).inc()


class GameserverConfig(AppConfig):
    name = "gameserver"
    verbose_name = "Game server"

    def ready(self) -> None:
        from gameserver import logs

        # Before daphne's CLI builds its access logger (see gameserver/logs.py).
        logs.install_access_log()
        # Every stored chat line, lobby or room, whoever stores it.
        post_save.connect(_count_chat, sender="lobby.ChatMessage", weak=False,
                          dispatch_uid="arena-chat-metric")
