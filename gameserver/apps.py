from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig
from django.db.models.signals import post_save

if TYPE_CHECKING:
    from lobby.models import ChatMessage


def _count_chat(
    sender: type[ChatMessage], instance: ChatMessage, created: bool, **kwargs: Any
) -> None:
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
        # Under daphne, autobahn is loaded by now: no settings dump per connection,
        # and no form parsing of POST bodies that daphne never reads.
        from gameserver.net.daphne import start_up_patches

        start_up_patches()
        # Every stored chat line, lobby or room, whoever stores it.
        post_save.connect(_count_chat, sender="lobby.ChatMessage", weak=False,
                          dispatch_uid="arena-chat-metric")
        install_dead_rooms_check()
        from gameserver.roomlist import on_room_list_changed
        from lobby.signals import room_list_changed

        room_list_changed.connect(on_room_list_changed, weak=False,
                                  dispatch_uid="arena-room-list-push")


def install_dead_rooms_check() -> None:
    """With Redis, the room list leaves out rooms whose engine died (lobby can't ask Redis).

    `lobby.rooms.public_rooms` then hides every room that `arena:engines`
    names and that has no lease: no live process runs it (gameserver/ownership.py).
    """
    from django.conf import settings

    from gameserver.ownership import RoomLiveness
    from lobby import rooms

    urls = settings.ARENA.redis_urls
    rooms.set_dead_rooms_check(RoomLiveness(urls[0]).dead if urls else None)
