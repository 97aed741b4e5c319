"""Chat: the `lobby` channel and one `room.<name>` channel per room.

Contract:
- a message is 1–200 characters after control characters (and bidi
  overrides) are removed and surrounding whitespace stripped;
- a muted user (`Mute` with `until` in the future) gets `ChatError("muted")`;
- a user may send `chat_rate_count` messages per `chat_rate_seconds` over all
  tabs and processes (counted from stored messages), else `ChatError("rate_limited")`;
- a message is STORED before it is broadcast, as the frame
  `{"type": "chat.message", "id", "channel", "user": {"id", "name"}, "text", "ts"}`;
- messages are stored in short batches (`ChatWriter`: one transaction, one
  insert for all that arrive within `chat_batch_window_ms`, at most
  `chat_batch_max`) and sent in the order they were accepted; if a batch
  cannot be stored, none of it is sent and each sender gets
  `ChatError("not_stored")`;
- text is stored raw and is data, never markup: clients render it as text.

The runtime's game socket calls `apost(user, "room.<name>", text)` and
relays the returned frame to the room itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import unicodedata
import weakref
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.db.models.signals import post_save
from django.utils import timezone

from engine import protocol
from engine.errors import CodedError
from engine.protocol import ROOM_NAME_PATTERN
from lobby import metrics, push
from lobby.models import ChatMessage, Mute, Room, User

logger = logging.getLogger(__name__)

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


@dataclass(slots=True)
class _Accepted:
    """A message that passed validation and waits in this process's queue to be stored."""

    user: User
    channel: str
    text: str
    created_at: datetime
    waiting_since: float
    """When it was accepted, on the event loop's clock."""
    done: asyncio.Future[dict[str, Any]]


def _store_batch(batch: list[tuple[User, str, str, datetime]]) -> list[ChatMessage | ChatError]:
    """Store the messages that pass the mute and rate checks, in one transaction.

    Each item is (user, channel, cleaned text, accepted at). The checks read
    the stored messages and mutes of the batch's users once, then walk the
    batch in order, so a user's earlier messages in it count against their
    limit. Returns, item for item, the stored message (with its id) or the
    ChatError that refused it. Raises (and stores nothing) if the write fails.
    """
    config = settings.ARENA
    user_ids = {user.pk for user, _, _, _ in batch}
    with transaction.atomic():
        now = timezone.now()
        muted: dict[int, datetime] = dict(
            Mute.objects.filter(user_id__in=user_ids, until__gt=now)
            .values("user_id").annotate(longest=Max("until")).values_list("user_id", "longest")
        )
        since = now - timedelta(seconds=config.chat_rate_seconds)
        sent: Counter[int] = Counter(dict(
            ChatMessage.objects.filter(user_id__in=user_ids, created_at__gt=since)
            .values("user_id").annotate(n=Count("id")).values_list("user_id", "n")
        ))
        results: list[ChatMessage | ChatError] = []
        rows: list[ChatMessage] = []
        for user, channel, text, created_at in batch:
            until = muted.get(user.pk)
            if until is not None:
                results.append(ChatError("muted", f"you are muted until {push.iso(until)}"))
            elif sent[user.pk] >= config.chat_rate_count:
                results.append(ChatError(
                    "rate_limited",
                    f"at most {config.chat_rate_count} messages per "
                    f"{config.chat_rate_seconds:g} s",
                ))
            else:
                sent[user.pk] += 1
                message = ChatMessage(channel=channel, user=user, text=text,
                                      created_at=created_at)
                rows.append(message)
                results.append(message)
        if rows:
            ChatMessage.objects.bulk_create(rows)
            # bulk_create sends no post_save; its listeners (the runtime's
            # chat counter) hear of every row as if it were saved alone.
            for row in rows:
                post_save.send(sender=ChatMessage, instance=row, created=True,
                               update_fields=None, raw=False, using=row._state.db)
    return results


class ChatWriter:
    """One event loop's queue of accepted messages, stored in short batches, then sent.

    The first message waiting starts a window of `chat_batch_window_ms`; when
    it ends, or `chat_batch_max` messages wait, the waiting ones are stored in
    one transaction (`_store_batch`, in the database thread, on its kept
    connection: lobby/dbconn.py), and only then
    are the stored ones sent: all of a batch's lobby messages as one
    channel-layer message, in the order they were accepted. One batch at a
    time: the next is gathered while this one is written, and its ids are
    all higher. If the write fails, nothing of the batch is sent and each
    sender gets `ChatError("not_stored")`.
    """

    def __init__(self) -> None:
        self.waiting: list[_Accepted] = []
        self._task: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    def submit(self, user: User, channel: str, text: str) -> asyncio.Future[dict[str, Any]]:
        """Queue a validated message; the future gets its frame once it is stored and sent."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.waiting.append(_Accepted(user, channel, text, timezone.now(), loop.time(), done))
        if len(self.waiting) >= settings.ARENA.chat_batch_max:
            self._full.set()
        if self._task is None:
            self._task = loop.create_task(self._run(), name="chat-writer")
        return done

    async def _run(self) -> None:
        try:
            while self.waiting:
                await self._gather()
                size = settings.ARENA.chat_batch_max
                batch, self.waiting[:size] = self.waiting[:size], []
                self._full.clear()
                await self._write(batch)
        finally:
            self._task = None

    async def _gather(self) -> None:
        """Wait until the oldest waiting message's window ends or a batch is full."""
        config = settings.ARENA
        loop = asyncio.get_running_loop()
        left = self.waiting[0].waiting_since + config.chat_batch_window_ms / 1000 - loop.time()
        if left <= 0 or len(self.waiting) >= config.chat_batch_max:
            return
        self._full.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(left):
                await self._full.wait()

    async def _write(self, batch: list[_Accepted]) -> None:
        metrics.CHAT_BATCH_MESSAGES.observe(len(batch))
        try:
            # On the database thread's kept connection (push.run_sync): a
            # batch pays no connect and close of its own.
            results = await push.run_sync(
                _store_batch, [(a.user, a.channel, a.text, a.created_at) for a in batch]
            )
        except Exception:
            logger.exception("a batch of %d chat messages was not stored", len(batch))
            for accepted in batch:
                _fail(accepted.done, ChatError(
                    "not_stored", "the message could not be stored and was not sent; try again"
                ))
            return
        except BaseException:
            for accepted in batch:
                accepted.done.cancel()
            raise
        frames: list[dict[str, Any] | None] = []
        for accepted, result in zip(batch, results, strict=True):
            if isinstance(result, ChatError):
                frames.append(None)
                _fail(accepted.done, result)
            else:
                frames.append(message_frame(result))
        lobby = [f for f, a in zip(frames, batch, strict=True) if f and a.channel == "lobby"]
        try:
            if lobby:
                await push.apush_many(lobby)
        except Exception as exc:
            # Stored (history has them), but the channel layer failed: as
            # with one message at a time, the senders get its exception.
            for frame, accepted in zip(frames, batch, strict=True):
                if frame is not None:
                    _fail(accepted.done, exc)
            return
        for frame, accepted in zip(frames, batch, strict=True):
            if frame is not None and not accepted.done.done():
                accepted.done.set_result(frame)


def _fail(done: asyncio.Future[dict[str, Any]], error: BaseException) -> None:
    """Fail a sender's future, unless the sender stopped waiting (its socket closed)."""
    if not done.done():
        done.set_exception(error)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChatWriter] = (
    weakref.WeakKeyDictionary()
)


def chat_writer() -> ChatWriter:
    """The running event loop's chat writer (one per server process)."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = ChatWriter()
    return writer


async def apost(user: User, channel: str, text: str) -> dict[str, Any]:
    """Validate, rate-limit, store, then broadcast a message; returns its frame.

    Messages are stored in short batches (`ChatWriter`) and sent only once
    stored. A `lobby` message is pushed to every lobby socket; a room's
    message is only stored and returned: the game socket relays it to the room.
    Raises ChatError (`bad_channel`, `invalid`, `empty`, `too_long`, `muted`,
    `rate_limited`, `not_stored`: its batch could not be stored); nothing is
    stored or sent then.
    """
    if not valid_channel(channel):
        raise ChatError("bad_channel", "channel must be 'lobby' or 'room.<name>'")
    cleaned = clean_text(text)
    return await chat_writer().submit(user, channel, cleaned)


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
