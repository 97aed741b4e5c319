"""The durable outbox behind the task queue (docs/tasks.md).

A task is a `Task` row first and a channel-layer message second:

- `enqueue(kind, payload)` writes the row inside the caller's transaction
  (so it exists exactly when what caused it exists) and returns its id; after
  the commit, `asend(ids)` announces each id on `TASK_CHANNEL`. A lost or
  refused message (full channel, no subscriber, dead worker) only delays
  the task: the sweeper (`due_for_send`) sends due tasks again.
- `claim(id)` takes a lease on a due, unclaimed task for one worker (row lock,
  `skip_locked` on PostgreSQL; SQLite serialises writers) and counts the
  attempt; a task whose attempts are used up is parked `dead` instead.
- `complete(id, claim, effect)` runs `effect()` and marks the task `done` in
  ONE transaction, under the row lock, only while the claim is still the
  task's: a worker killed mid-task rolls both back, and a re-run applies the
  effect once.
- `fail(id, claim, error)` schedules a retry with exponential backoff, or
  parks the task `dead` after `task_max_attempts`; `retry(ids)` (the admin's
  action) makes dead tasks pending again with fresh attempts.

Delivery is at-least-once; tasks must be idempotent given that their effect
and their `done` mark commit together.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from lobby import push
from lobby.models import Task

logger = logging.getLogger(__name__)

TASK_CHANNEL = "arena-tasks"
"""The channel workers listen on (`python manage.py runworker arena-tasks`)."""

RUN_MESSAGE = "task.run"
MAX_KIND_CHARS = 40
MAX_ERROR_CHARS = 2000
SWEEP_BATCH = 500

T = TypeVar("T")


class TaskError(Exception):
    """A task was enqueued wrongly (unknown kind, payload not a dict)."""


def _config() -> Any:
    return settings.ARENA


def enqueue(kind: str, payload: dict[str, Any]) -> int:
    """Write a pending task in the current transaction; return its id.

    Call it inside the `transaction.atomic()` that stores what caused the
    task; then, after the commit, `asend([id])` (or leave it to the sweeper).
    """
    if not isinstance(kind, str) or not 1 <= len(kind) <= MAX_KIND_CHARS:
        raise TaskError(f"kind must be 1 to {MAX_KIND_CHARS} characters")
    if not isinstance(payload, dict):
        raise TaskError("payload must be a dict")
    return int(Task.objects.create(kind=kind, payload=payload).pk)


def run_message(task_id: int) -> dict[str, Any]:
    """The channel-layer message that announces task `task_id`."""
    return {"type": RUN_MESSAGE, "id": int(task_id)}


def _claimable(now: datetime) -> QuerySet[Task]:
    return Task.objects.filter(status=Task.PENDING, due_at__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def _locked(query: QuerySet[Task], skip: bool) -> QuerySet[Task]:
    if connection.features.has_select_for_update_skip_locked and skip:
        return query.select_for_update(skip_locked=True)
    return query.select_for_update()


def mark_sent(ids: Iterable[int]) -> None:
    """Record that messages for these tasks went out now (the resend clock starts)."""
    Task.objects.filter(pk__in=list(ids), status=Task.PENDING).update(sent_at=timezone.now())


def due_for_send(limit: int = SWEEP_BATCH, everything: bool = False) -> list[int]:
    """Ids of due, unclaimed pending tasks never sent or sent over `task_resend_seconds`
    ago (with `everything`: however recently sent); they are marked sent now (the
    caller sends them)."""
    now = timezone.now()
    resend_before = now - timedelta(seconds=_config().task_resend_seconds)
    query = _claimable(now)
    if not everything:
        query = query.filter(Q(sent_at__isnull=True) | Q(sent_at__lt=resend_before))
    with transaction.atomic():
        ids = list(
            _locked(query, skip=True)
            .order_by("due_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Task.objects.filter(pk__in=ids).update(sent_at=now)
    return ids


def unsent(ids: Iterable[int]) -> None:
    """These messages could not be sent: let the next sweep send them."""
    Task.objects.filter(pk__in=list(ids), status=Task.PENDING).update(sent_at=None)


def _claimed(task_id: int, token: str) -> Task | None:
    """Task `task_id`, locked, if it is still pending under claim `token` (in a transaction)."""
    return (
        Task.objects.select_for_update()
        .filter(pk=task_id, status=Task.PENDING, claim=token)
        .first()
    )


def claim(task_id: int) -> tuple[str, str] | None:
    """Lease task `task_id` to the caller: `(claim, kind)`, or None if it is not runnable
    (done, dead, not due, or leased to a live worker). Counts one attempt.

    A task that already used `task_max_attempts` runs (its workers died
    mid-task) is parked `dead` here instead of being run again.
    """
    config = _config()
    now = timezone.now()
    with transaction.atomic():
        task = _locked(_claimable(now).filter(pk=task_id), skip=True).first()
        if task is None:
            return None
        if task.attempts >= config.task_max_attempts:
            task.status = Task.DEAD
            task.claim = ""
            task.claimed_until = None
            if not task.last_error:
                task.last_error = "attempts used up: its workers stopped mid-task"
            task.save(update_fields=["status", "claim", "claimed_until", "last_error"])
            _count("dead")
            return None
        token = secrets.token_hex(16)
        task.claim = token
        task.claimed_until = now + timedelta(seconds=config.task_lease_seconds)
        task.attempts += 1
        task.save(update_fields=["claim", "claimed_until", "attempts"])
        if task.attempts > 1:
            _count("retried")
        return token, task.kind


def complete(task_id: int, token: str, effect: Callable[[Task], T]) -> tuple[bool, T | None]:
    """Run `effect(task)` and mark the task done in one transaction.

    Returns `(True, effect's result)`, or `(False, None)` when the claim is no
    longer the task's (its lease ran out and another worker took it): then
    nothing is applied. An exception from `effect` rolls everything back and
    propagates (the caller then calls `fail`).
    """
    with transaction.atomic():
        task = _claimed(task_id, token)
        if task is None:
            return False, None
        result = effect(task)
        now = timezone.now()
        task.status = Task.DONE
        task.done_at = now
        task.claimed_until = None
        task.last_error = ""
        task.save(update_fields=["status", "done_at", "claimed_until", "last_error"])
    _observe_done(task)
    return True, result


def backoff_seconds(attempts: int) -> float:
    """The delay before run `attempts + 1`: base × 2^(attempts-1), capped."""
    config = _config()
    exponent = max(0, min(attempts - 1, 30))
    return float(min(config.task_backoff_max_seconds, config.task_backoff_seconds * 2**exponent))


def fail(task_id: int, token: str, error: str) -> str | None:
    """A run failed: schedule the retry, or park the task dead after the last attempt.

    Returns the task's new status (`pending` or `dead`), or None if the claim
    was no longer the task's.
    """
    config = _config()
    with transaction.atomic():
        task = _claimed(task_id, token)
        if task is None:
            return None
        task.last_error = error[-MAX_ERROR_CHARS:]
        task.claim = ""
        task.claimed_until = None
        if task.attempts >= config.task_max_attempts:
            task.status = Task.DEAD
            _count("dead")
        else:
            task.due_at = timezone.now() + timedelta(seconds=backoff_seconds(task.attempts))
            task.sent_at = None  # the sweeper sends it when due
        task.save(update_fields=["last_error", "claim", "claimed_until", "status", "due_at",
                                 "sent_at"])
        return str(task.status)


def retry(ids: Iterable[int]) -> list[int]:
    """Make dead tasks pending again with fresh attempts (the admin's action).

    Returns the ids changed; the caller sends them after the commit.
    """
    with transaction.atomic():
        changed = list(
            Task.objects.select_for_update()
            .filter(pk__in=list(ids), status=Task.DEAD)
            .values_list("pk", flat=True)
        )
        Task.objects.filter(pk__in=changed).update(
            status=Task.PENDING, attempts=0, due_at=timezone.now(), sent_at=None,
            claim="", claimed_until=None,
        )
    return changed


def depth() -> dict[str, int]:
    """Counts for the metrics: `pending` (queue depth) and `dead` tasks."""
    return {
        "pending": Task.objects.filter(status=Task.PENDING).count(),
        "dead": Task.objects.filter(status=Task.DEAD).count(),
    }


# Sending -------------------------------------------------------------------------------


async def asend(ids: Iterable[int]) -> int:
    """Announce tasks on `TASK_CHANNEL`; returns how many messages the layer took.

    Never raises for a refused message: that task's `sent_at` is cleared and
    the next sweep sends it. Who receives it: `runworker` processes on Redis,
    else the server process's embedded worker (gameserver/workers.py).

    The tasks are marked sent *before* the messages go out, so nothing is
    written after a worker may have started on them (on SQLite a running
    task holds the database's one write lock until it commits); a process
    that dies in between only delays the tasks to the sweeper's next resend.
    """
    ids = [int(i) for i in ids]
    if not ids:
        return 0
    await database_sync_to_async(mark_sent)(ids)
    layer = push.channel_layer()
    refused: list[int] = []
    for task_id in ids:
        try:
            await layer.send(TASK_CHANNEL, run_message(task_id))
        except Exception as exc:  # ChannelFull, Redis down: the sweeper resends
            logger.debug("task %s not sent (%s); the sweeper will", task_id, exc)
            refused.append(task_id)
    if refused:
        await database_sync_to_async(unsent)(refused)
    return len(ids) - len(refused)


async def asend_swept(ids: list[int]) -> int:
    """Send tasks the sweeper picked (already marked sent); unmark the refused ones."""
    layer = push.channel_layer()
    refused: list[int] = []
    for task_id in ids:
        try:
            await layer.send(TASK_CHANNEL, run_message(task_id))
        except Exception:
            refused.append(task_id)
    if refused:
        await database_sync_to_async(unsent)(refused)
    return len(ids) - len(refused)


# Metrics -------------------------------------------------------------------------------


def _count(event: str) -> None:
    from lobby import taskmetrics

    if event == "dead":
        taskmetrics.DEAD.inc()
    elif event == "retried":
        taskmetrics.RETRIES.inc()


def _observe_done(task: Task) -> None:
    from lobby import taskmetrics

    taskmetrics.DONE.labels(taskmetrics.kind_label(task.kind)).inc()
    if task.done_at is not None:
        taskmetrics.LATENCY.observe((task.done_at - task.created_at).total_seconds())
