"""Chat: the `lobby` channel and one `room.<name>` channel per room.

Contract:
- a message is 1–200 characters after control characters (and bidi
  overrides) are removed and surrounding whitespace stripped;
- a muted user (`Mute` with `until` in the future) gets `ChatError("muted")`;
- a user may send `chat_rate_count` messages per `chat_rate_seconds` over all
  tabs and processes (counted from stored messages), else `ChatError("rate_limited")`;
- a message is STORED before it is broadcast, as the frame
  `{"type": "chat.message", "id", "channel", "user": {"id", "name"}, "text", "ts"}`;
- text is stored raw and is data, never markup: clients render it as text.

The runtime's game socket calls `apost(user, "room.<name>", text)` and
relays the returned frame to the room itself.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engine import protocol
from engine.errors import CodedError
from engine.protocol import ROOM_NAME_PATTERN
from lobby import push
from lobby.models import ChatMessage, Mute, Room, User

MAX_CHARS = 200
MAX_RAW_CHARS = 2_000
CHANNEL_RE = re.compile(rf"^(lobby|room\.{ROOM_NAME_PATTERN})$")
# Bidirectional overrides and isolates can make a line render as something else.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class ChatError(CodedError):
    """A message was refused; `code` is the `error` frame's code."""


def valid_channel(channel: object) -> bool:
    return isinstance(channel, str) and CHANNEL_RE.fullmatch(channel) is not None


def clean_text(text: object) -> str:
    """The text as stored: control characters removed, whitespace stripped; or ChatError."""
    if not isinstance(text, str):
        raise ChatError("invalid", "text must be a string")
    if len(text) > MAX_RAW_CHARS:
        raise ChatError("too_long", f"text must be at most {MAX_CHARS} characters")
    cleaned = "".join(
        ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI
    ).strip()
    if not cleaned:
        raise ChatError("empty", "text is empty")
    if len(cleaned) > MAX_CHARS:
        raise ChatError("too_long", f"text must be at most {MAX_CHARS} characters")
    return cleaned


def message_frame(message: ChatMessage) -> dict[str, Any]:
    """The wire shape of a stored message (also each item of the history endpoint)."""
    return {
        "type": "chat.message",
        "id": message.pk,
        "channel": message.channel,
        "user": message.user.public,
        "text": message.text,
        "ts": push.iso(message.created_at),
    }


def muted_until(user_id: int) -> datetime | None:
    """The end of the user's longest active mute, or None."""
    mute = (
        Mute.objects.filter(user_id=user_id, until__gt=timezone.now()).order_by("-until").first()
    )
    return mute.until if mute else None


def _store(user: User, channel: str, text: str) -> ChatMessage:
    if not valid_channel(channel):
        raise ChatError("bad_channel", "channel must be 'lobby' or 'room.<name>'")
    cleaned = clean_text(text)
    config = settings.ARENA
    with transaction.atomic():
        now = timezone.now()
        until = muted_until(user.pk)
        if until is not None:
            raise ChatError("muted", f"you are muted until {push.iso(until)}")
        since = now - timedelta(seconds=config.chat_rate_seconds)
        recent = ChatMessage.objects.filter(user_id=user.pk, created_at__gt=since).count()
        if recent >= config.chat_rate_count:
            raise ChatError(
                "rate_limited",
                f"at most {config.chat_rate_count} messages per "
                f"{config.chat_rate_seconds:g} s",
            )
        message = ChatMessage.objects.create(
            channel=channel, user=user, text=cleaned, created_at=now
        )
    message.user = user
    return message


async def apost(user: User, channel: str, text: str) -> dict[str, Any]:
    """Validate, rate-limit, store, then broadcast a message; returns its frame.

    A `lobby` message is pushed to every lobby socket; a room's message is
    only stored and returned: the game socket relays it to the room.
    Raises ChatError (`bad_channel`, `invalid`, `empty`, `too_long`, `muted`,
    `rate_limited`); nothing is stored or sent then.
    """
    message = await database_sync_to_async(_store)(user, channel, text)
    frame = message_frame(message)
    if channel == "lobby":
        await push.apush(push.LOBBY_GROUP, frame)
    return frame


def history(channel: str, limit: int, before: int | None = None) -> dict[str, Any]:
    """A page of visible messages: `{"messages": [...oldest first], "next_before": id|None}`.

    The page holds the latest `limit` messages with id < `before` (all if
    None); `next_before` is the cursor for the page before it, None at the start.
    """
    query = ChatMessage.objects.filter(channel=channel, deleted_at__isnull=True)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = list(query.select_related("user").order_by("-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return {
        "messages": [message_frame(m) for m in rows],
        "next_before": rows[0].pk if more and rows else None,
    }


def channel_room(channel: str) -> Room | None:
    """The room of a `room.<name>` channel (open or closed), or None."""
    if not channel.startswith("room."):
        return None
    return Room.objects.filter(name=channel[5:]).first()


def delete_message(message_id: int) -> bool:
    """Soft-delete a message; its channel's members get `{"type": "chat.deleted", "id"}`.

    Returns False if it was already deleted or does not exist.
    """
    with transaction.atomic():
        message = ChatMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.deleted_at is not None:
            return False
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
    if message.channel == "lobby":
        push.push(push.LOBBY_GROUP, {"type": "chat.deleted", "id": message.pk, "channel": "lobby"})
    else:
        # A room's chat lives on its game sockets: the runtime's room group
        # relays the frame to every process with sockets in that room.
        room = message.channel.removeprefix("room.")
        push.send_sync(push.room_group(room), {
            "type": "room.frame", "room": room, "data": protocol.chat_deleted(message.pk),
        })
    return True


def mute(user_id: int, until: datetime, reason: str = "") -> Mute:
    """Forbid a user to chat until `until`."""
    return Mute.objects.create(user_id=user_id, until=until, reason=reason)
