"""Group names, the one frame envelope the lobby pushes, and how sync code sends it.

Every live lobby frame travels as a channel-layer message
`{"type": "lobby.frame", "frame": {...}}` to a group; `LobbyConsumer.lobby_frame`
sends `frame` as one JSON text frame. Several frames sent together to the
`lobby` group (a batch of stored chat messages) travel as one
`{"type": "lobby.frames", "frames": [...]}`, which the group's members, the
lobby hubs (gameserver/lobby_hub.py), write in order. Groups:

- `lobby`: every lobby socket (chat of the `lobby` channel, presence, rooms);
- `user.<id>`: every lobby socket (tab) of one user (notifications);
- `room.<name>`: every process with sockets in that game room (the runtime's
  room group; the lobby sends it `room.chat_deleted` when a moderator deletes
  a line of that room's chat).

How a push leaves sync code, so no thread ever waits on the event loop it was
called from:

- async code awaits `apush` (or `send`);
- sync lobby code called from async code runs through `run_sync`, which
  executes it in a database thread and collects the pushes it makes
  (`push`, `defer`; after the commit when inside a transaction); the loop
  sends them, in order, once the thread has returned;
- a truly synchronous caller (a view, the admin, a management command, a
  plain test) sends at once with `async_to_sync`; it is not a thread the
  loop is waiting on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from lobby import dbconn
from lobby.models import LobbyState

LOBBY_GROUP = "lobby"
FRAME = "lobby.frame"
FRAMES = "lobby.frames"

P = ParamSpec("P")
R = TypeVar("R")

Deferred = Callable[[], Awaitable[None]]
_collected: ContextVar[list[Deferred] | None] = ContextVar("lobby_push_collected", default=None)


class ChannelLayer(Protocol):
    """The channel-layer calls this project makes (gameserver.layers, gameserver.redis_layer)."""

    async def send(self, channel: str, message: dict[str, Any]) -> None: ...
    async def receive(self, channel: str) -> dict[str, Any]: ...
    async def new_channel(self, prefix: str = ...) -> str: ...
    async def group_add(self, group: str, channel: str) -> None: ...
    async def group_discard(self, group: str, channel: str) -> None: ...
    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...


def channel_layer() -> ChannelLayer:
    """The default channel layer (the settings always configure one)."""
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer")
    # Channels' BaseChannelLayer.new_channel takes no prefix; every layer we
    # configure (and channels' own) does.
    return cast(ChannelLayer, layer)


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def room_group(room: str) -> str:
    """The runtime's group of game room `room` (one member per process with sockets there)."""
    return f"room.{room}"


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, e.g. `2026-11-24T07:43:04.123456Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(frame: dict[str, Any]) -> dict[str, Any]:
    return {"type": FRAME, "frame": frame}


async def send(group: str, message: dict[str, Any]) -> None:
    """`group_send` one channel-layer message (from async code)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group, message)


async def apush(group: str, frame: dict[str, Any]) -> None:
    """Send `frame` to every lobby socket in `group` (from async code)."""
    await send(group, envelope(frame))


async def apush_many(frames: list[dict[str, Any]]) -> None:
    """Send `frames`, in order, to every lobby socket: one message to the `lobby` group."""
    await send(LOBBY_GROUP, {"type": FRAMES, "frames": frames})


def defer(work: Deferred) -> bool:
    """Inside `run_sync`: have the loop await `work()` once the thread returns.

    Inside a transaction the work is queued when (and only if) it commits.
    Returns False outside `run_sync` (nothing queued: the caller acts itself).
    """
    collected = _collected.get()
    if collected is None:
        return False
    transaction.on_commit(lambda: collected.append(work))
    return True


def send_sync(group: str, message: dict[str, Any]) -> None:
    """`group_send` from sync code: collected inside `run_sync`, else sent now.

    Inside a transaction the message waits for the commit (and is dropped on
    rollback), so nobody hears of a change the database does not hold.
    Calling it on the event loop's own thread is a bug (it would block the
    loop): use `send`.
    """
    if defer(lambda: send(group, message)):
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("push from the event loop's thread: await apush/send instead")
    layer = get_channel_layer()
    if layer is not None:
        transaction.on_commit(lambda: async_to_sync(layer.group_send)(group, message))


def push(group: str, frame: dict[str, Any]) -> None:
    """Send `frame` to every lobby socket in `group` (from sync code; see `send_sync`)."""
    send_sync(group, envelope(frame))


async def run_sync(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run sync lobby code in a database thread, then send what it pushed.

    The thread's database connection is kept open between calls
    (lobby/dbconn.py): the runtime's joins, leaves and room-list queries pay
    no connect and close each.

    The pushes go out from this loop after the thread has returned, in the
    order they were made, even when `func` raised after committing some work.
    """
    collected: list[Deferred] = []

    def call() -> R:
        token = _collected.set(collected)
        try:
            with dbconn.kept():
                return func(*args, **kwargs)
        finally:
            _collected.reset(token)

    try:
        return await database_sync_to_async(call)()
    finally:
        for work in collected:
            await work()


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
