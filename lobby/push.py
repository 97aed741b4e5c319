"""Group names, the one frame envelope the lobby pushes, and shared-state swaps.

Every live lobby frame travels as a channel-layer message
`{"type": "lobby.frame", "frame": {...}}` to a group; `LobbyConsumer.lobby_frame`
sends `frame` as one JSON text frame. Groups:

- `lobby`: every lobby socket (chat of the `lobby` channel, presence, rooms);
- `user.<id>`: every lobby socket (tab) of one user (notifications);
- `chat.room.<name>`: listeners of a room's chat channel (deletions of room
  chat are pushed here; the game runtime relays room chat itself).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from lobby.models import LobbyState

LOBBY_GROUP = "lobby"
FRAME = "lobby.frame"


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def chat_group(channel: str) -> str:
    """The group that hears `channel`'s chat (`lobby` for the lobby channel)."""
    return LOBBY_GROUP if channel == "lobby" else f"chat.{channel}"


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, e.g. `2026-11-24T07:43:04.123456Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(frame: dict[str, Any]) -> dict[str, Any]:
    return {"type": FRAME, "frame": frame}


async def apush(group: str, frame: dict[str, Any]) -> None:
    """Send `frame` to every lobby socket in `group` (from async code)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group, envelope(frame))


def push(group: str, frame: dict[str, Any]) -> None:
    """Send `frame` to every lobby socket in `group` (from sync code).

    Called inside a `sync_to_async` thread, `async_to_sync` runs the send on
    the server's event loop, as the in-process layers require.
    """
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, envelope(frame))


def swap_state(key: str, value: str, initial: str | None = None) -> bool:
    """Set shared value `key` to `value`; True only for the caller that changed it.

    The row is locked for the comparison, so when several processes observe
    the same change exactly one of them pushes it. A missing row counts as
    holding `initial` (None: any value is a change).
    """
    with transaction.atomic():
        row, created = LobbyState.objects.select_for_update().get_or_create(
            key=key, defaults={"value": value}
        )
        if created:
            return initial is None or value != initial
        if row.value == value:
            return False
        row.value = value
        row.save(update_fields=["value"])
        return True
