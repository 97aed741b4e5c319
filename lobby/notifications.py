"""Notifications: stored for one user, pushed live to every open tab, listed later.

Contract: `notify(user_id, kind, data)` (sync) and `anotify(...)` (async)
store a `Notification` and then push
`{"type": "notification", "id", "kind", "data", "ts"}` to the group
`user.<id>`, which every lobby socket of that user joins. A user with no
socket open sees it through `GET /api/notifications` on the next visit.
`data` must be JSON-serialisable.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from lobby import push
from lobby.models import Notification

MAX_KIND_CHARS = 40


def frame(notification: Notification) -> dict[str, Any]:
    """The wire shape of a notification (the HTTP list adds `read`)."""
    return {
        "type": "notification",
        "id": notification.pk,
        "kind": notification.kind,
        "data": notification.data,
        "ts": push.iso(notification.created),
    }


def create(user_id: int, kind: str, data: dict[str, Any]) -> Notification:
    """Store a notification without pushing it (the caller pushes `frame(n)` after the
    commit, e.g. from async code with `push.apush`)."""
    if not isinstance(kind, str) or not 1 <= len(kind) <= MAX_KIND_CHARS:
        raise ValueError(f"kind must be 1 to {MAX_KIND_CHARS} characters")
    if not isinstance(data, dict):
        raise TypeError("data must be a dict")
    return Notification.objects.create(user_id=user_id, kind=kind, data=data)


def notify(user_id: int, kind: str, data: dict[str, Any]) -> Notification:
    """Store a notification for `user_id`, then push it to all the user's tabs.

    Inside a transaction, the push waits for the commit, so no tab ever sees
    a notification the database does not hold (see `lobby.push`).
    """
    notification = create(user_id, kind, data)
    push.push(push.user_group(user_id), frame(notification))
    return notification


async def anotify(user_id: int, kind: str, data: dict[str, Any]) -> Notification:
    """`notify` from async code."""
    notification = await database_sync_to_async(create)(user_id, kind, data)
    await push.apush(push.user_group(user_id), frame(notification))
    return notification


def unread_count(user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read=False).count()


def page(user_id: int, limit: int, before: int | None) -> dict[str, Any]:
    """Unread first, then newest: `{"notifications", "unread", "next_before"}`.

    `before` is the id of the last notification of the previous page (the
    cursor is that notification's place in the order); ValueError if it is
    not one of the user's notifications.
    """
    mine = Notification.objects.filter(user_id=user_id)
    if before is None:
        query = mine.order_by("read", "-id")
    else:
        anchor = mine.filter(pk=before).values_list("read", flat=True).first()
        if anchor is None:
            raise ValueError("before is not one of your notifications")
        if anchor:
            query = mine.filter(read=True, id__lt=before).order_by("-id")
        else:
            unread_after = mine.filter(read=False, id__lt=before)
            query = (unread_after | mine.filter(read=True)).order_by("read", "-id")
    rows = list(query[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "notifications": [{**frame(n), "read": n.read} for n in rows],
        "unread": unread_count(user_id),
        "next_before": rows[-1].pk if more and rows else None,
    }


def mark_read(user_id: int, ids: list[int] | None) -> dict[str, int]:
    """Mark the given (or, with None, all) of the user's notifications read.

    Returns `{"updated", "unread"}` and pushes
    `{"type": "notifications.read", "ids": [...]|None, "unread"}` to the
    user's other tabs so their badges agree.
    """
    query = Notification.objects.filter(user_id=user_id, read=False)
    if ids is not None:
        query = query.filter(pk__in=ids)
    updated = query.update(read=True)
    unread = unread_count(user_id)
    if updated:
        push.push(
            push.user_group(user_id),
            {"type": "notifications.read", "ids": ids, "unread": unread},
        )
    return {"updated": updated, "unread": unread}
