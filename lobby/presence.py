"""Presence: how many distinct users have a lobby socket open, over all processes.

Each lobby socket owns one `Presence` row keyed by its channel name, with
`expires_at = now + presence_ttl_seconds`. Its process's lobby hub refreshes
the rows of all its sockets every `presence_heartbeat_seconds`, in one
transaction (`heartbeat_many`); the consumer deletes its row on disconnect.
A process that dies leaves rows that expire; every heartbeat (of any
process) sweeps expired rows. The count is the number of distinct users
with an unexpired row — never an in-process counter.

Whenever the count differs from the last one pushed (shared in the database,
so exactly one process pushes a change), the lobby group gets
`{"type": "presence", "online": int}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lobby import push
from lobby.models import Presence

STATE_KEY = "presence.online"


def online_count() -> int:
    """Distinct users with an unexpired presence row."""
    return (
        Presence.objects.filter(expires_at__gt=timezone.now())
        .values("user_id").distinct().count()
    )


def _expiry() -> datetime:
    return timezone.now() + timedelta(seconds=settings.ARENA.presence_ttl_seconds)


def sweep() -> int:
    """Delete expired rows; returns how many went."""
    deleted, _ = Presence.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def _changed_count() -> int | None:
    """The current count if it differs from the last one pushed (and record it), else None."""
    count = online_count()
    return count if push.swap_state(STATE_KEY, str(count), initial="0") else None


def enter(channel_name: str, user_id: int) -> int | None:
    """Register a socket; returns the new count if it changed."""
    with transaction.atomic():
        Presence.objects.update_or_create(
            channel_name=channel_name, defaults={"user_id": user_id, "expires_at": _expiry()}
        )
    return _changed_count()


def heartbeat(channel_name: str, user_id: int) -> int | None:
    """Refresh a socket's row (recreating it if swept), sweep expired rows;
    returns the new count if it changed."""
    return heartbeat_many([(channel_name, user_id)])


HEARTBEAT_CHUNK = 500
"""Sockets refreshed per statement (a bound on the statement's parameters)."""


def heartbeat_many(sockets: Sequence[tuple[str, int]]) -> int | None:
    """Refresh the rows of many sockets, (channel name, user id) each, in one
    transaction (recreating any that was swept), then sweep expired rows;
    returns the new count if it changed. A process's lobby hub calls it once
    per `presence_heartbeat_seconds` for all of its sockets."""
    expires_at = _expiry()
    with transaction.atomic():
        for start in range(0, len(sockets), HEARTBEAT_CHUNK):
            chunk = sockets[start : start + HEARTBEAT_CHUNK]
            names = [name for name, _ in chunk]
            Presence.objects.filter(channel_name__in=names).update(expires_at=expires_at)
            kept = set(Presence.objects.filter(channel_name__in=names)
                       .values_list("channel_name", flat=True))
            Presence.objects.bulk_create(
                [Presence(channel_name=name, user_id=user_id, expires_at=expires_at)
                 for name, user_id in chunk if name not in kept],
                ignore_conflicts=True,
            )
    sweep()
    return _changed_count()


def leave(channel_name: str) -> int | None:
    """Forget a socket; returns the new count if it changed."""
    Presence.objects.filter(channel_name=channel_name).delete()
    return _changed_count()


def refresh() -> int | None:
    """Sweep and recount without a socket of one's own (maintenance, tests)."""
    sweep()
    return _changed_count()


async def publish(count: int | None) -> None:
    """Push a changed count to the lobby group."""
    if count is not None:
        await push.apush(push.LOBBY_GROUP, {"type": "presence", "online": count})


# On the database thread's kept connection (push.run_sync, lobby/dbconn.py): a
# full lobby makes a heartbeat transaction every few milliseconds, on the same
# thread as the chat batches, and none of them pays a connect and close.


async def aenter(channel_name: str, user_id: int) -> None:
    await publish(await push.run_sync(enter, channel_name, user_id))


async def aheartbeat(channel_name: str, user_id: int) -> None:
    await publish(await push.run_sync(heartbeat, channel_name, user_id))


async def aheartbeat_many(sockets: Sequence[tuple[str, int]]) -> None:
    await publish(await push.run_sync(heartbeat_many, sockets))


async def aleave(channel_name: str) -> None:
    await publish(await push.run_sync(leave, channel_name))


async def arefresh() -> None:
    await publish(await push.run_sync(refresh))


async def aonline_count() -> int:
    return await push.run_sync(online_count)
