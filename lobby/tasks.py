"""The task consumers and their registry: what a worker does with a `task.run` message.

`TaskConsumer` is the Channels consumer behind `ChannelNameRouter({TASK_CHANNEL: ...})`
(gameserver/asgi.py): `python manage.py runworker arena-tasks` runs it in a
worker process, and in the embedded mode (no Redis) gameserver/workers.py runs the
same consumer inside the server process.

A message only names a task (`{"type": "task.run", "id"}`); the row in the
outbox is the truth. `run_task(id)`: claim the lease (none → another worker
has it, or it is done: ignore the message), run the kind's handler and mark
the task done in one transaction, then push what the handler stored. A
handler is a sync function `(payload) -> list[Notification]` that runs in
that transaction; it must touch only the database (pushes happen after the
commit, from async code).

Kinds: `match.finished` (ratings and placement notifications, lobby/ratings.py);
`replay.cleanup` (recordings past `REPLAY_RETENTION_DAYS`, lobby/replays.py),
which the sweeper enqueues once an hour.
With `TASK_TEST_HOOKS=true` also `test.record`, `test.fail` and `test.block`,
which the queue's own tests use (never enabled in production).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from django.conf import settings

from lobby import notifications, outbox, push, ratings, replays, taskmetrics
from lobby.models import LobbyState, Notification, Task

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], list[Notification]]


def _match_finished(payload: dict[str, Any]) -> list[Notification]:
    return ratings.rate_match(int(payload["match_id"]))


def _replay_cleanup(payload: dict[str, Any]) -> list[Notification]:
    replays.cleanup()
    return []


HANDLERS: dict[str, Handler] = {"match.finished": _match_finished,
                                "replay.cleanup": _replay_cleanup}
"""Task kind → handler. Add a kind here and to lobby/taskmetrics.KINDS."""


# Test-only kinds (TASK_TEST_HOOKS=true) -------------------------------------------------


def _count_once(key: str) -> None:
    row, _ = LobbyState.objects.get_or_create(key=f"t.{key}"[:40], defaults={"value": "0"})
    LobbyState.objects.filter(pk=row.pk).update(value=str(int(row.value or "0") + 1))


def _test_record(payload: dict[str, Any]) -> list[Notification]:
    """Adds 1 to the counter `t.<key>`: a run applied twice shows as 2."""
    _count_once(str(payload["key"]))
    return []


def _test_fail(payload: dict[str, Any]) -> list[Notification]:
    """Fails while the file `payload["fixed"]` does not exist; then acts like test.record."""
    if not Path(payload["fixed"]).exists():
        raise RuntimeError("test.fail: told to fail")
    return _test_record(payload)


def _test_block(payload: dict[str, Any]) -> list[Notification]:
    """Applies its effect, writes `<gate>.started`, then waits (≤ 60 s) for the file `gate`
    before its transaction commits: the test SIGKILLs the worker in between."""
    _count_once(str(payload["key"]))
    gate = Path(payload["gate"])
    Path(f"{gate}.started").write_text(str(time.time()))
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return []


TEST_HANDLERS: dict[str, Handler] = {
    "test.record": _test_record,
    "test.fail": _test_fail,
    "test.block": _test_block,
}


def handler_for(kind: str) -> Handler | None:
    """The handler of `kind` (test kinds only with `task_test_hooks`)."""
    found = HANDLERS.get(kind)
    if found is None and settings.ARENA.task_test_hooks:
        found = TEST_HANDLERS.get(kind)
    return found


# Running one task ----------------------------------------------------------------------


def _run_claimed(task_id: int, token: str, kind: str) -> tuple[str, list[dict[str, Any]]]:
    """Run a claimed task: ("done", pushes) | ("failed"/"dead", []) | ("lost", [])."""
    handler = handler_for(kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for task kind {kind!r}")
        found = handler

        def effect(task: Task) -> list[Notification]:
            return found(dict(task.payload))

        ok, stored = outbox.complete(task_id, token, effect)
    except Exception:
        taskmetrics.FAILURES.labels(taskmetrics.kind_label(kind)).inc()
        logger.warning("task %s (%s) failed", task_id, kind, exc_info=True)
        status = outbox.fail(task_id, token, traceback.format_exc())
        return ("dead" if status == Task.DEAD else "failed"), []
    if not ok:
        return "lost", []
    return "done", [
        {"group": push.user_group(n.user_id), "frame": notifications.frame(n)}
        for n in stored or []
    ]


def execute(task_id: int) -> tuple[str, list[dict[str, Any]]]:
    """Claim and run task `task_id` once (sync, database only).

    Returns the outcome — `done`, `failed` (retry scheduled), `dead`, `lost`
    (the lease passed to another worker before the commit) or `skipped` (not
    runnable: done, dead, not due, or leased elsewhere) — and the pushes
    `[{"group", "frame"}]` to send now that the run has committed.
    """
    claimed = outbox.claim(task_id)
    if claimed is None:
        return "skipped", []
    token, kind = claimed
    return _run_claimed(task_id, token, kind)


async def run_task(task_id: int) -> str:
    """`execute` from async code, then push its notifications; returns the outcome."""
    result, pushes = await database_sync_to_async(execute)(task_id)
    for item in pushes:
        try:
            await push.apush(item["group"], item["frame"])
        except Exception:  # stored already: the user sees it on the next list
            logger.warning("push of task %s's notification failed", task_id, exc_info=True)
    return result


class TaskConsumer(AsyncConsumer):
    """Runs each `task.run` message's task (one at a time per consumer instance)."""

    async def task_run(self, message: dict[str, Any]) -> None:
        try:
            task_id = int(message["id"])
        except (KeyError, TypeError, ValueError):
            logger.warning("malformed task message %r", message)
            return
        try:
            await run_task(task_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: the sweeper re-sends it
            logger.exception("task %s could not be run", task_id)


# The sweeper ---------------------------------------------------------------------------


CLEANUP_CHECK_SECONDS = 60.0
"""A process asks whether the hourly `replay.cleanup` is due at most this often."""
_cleanup_checked = -CLEANUP_CHECK_SECONDS


async def sweep_once(everything: bool = False) -> int:
    """Send every due task that is unclaimed and unsent (or sent `task_resend_seconds`
    ago; with `everything`, however recently); enqueue the hourly `replay.cleanup`
    when its hour has come (asked at most once a minute per process); refresh the
    queue-depth gauges.
    Returns how many messages went out."""
    ids = await database_sync_to_async(outbox.due_for_send)(outbox.SWEEP_BATCH, everything)
    sent = await outbox.asend_swept(ids) if ids else 0
    counts = await database_sync_to_async(outbox.depth)()
    taskmetrics.PENDING.set(counts["pending"])
    taskmetrics.DEAD_NOW.set(counts["dead"])
    global _cleanup_checked
    if time.monotonic() - _cleanup_checked >= CLEANUP_CHECK_SECONDS:
        _cleanup_checked = time.monotonic()
        cleanup = await database_sync_to_async(replays.schedule_cleanup)()
        if cleanup is not None:
            await outbox.asend([cleanup])
    return sent


async def sweep_forever() -> None:
    """`sweep_once` every `task_sweep_seconds`, until cancelled; errors are logged.

    The first sweep of a process sends every due, unclaimed task however
    recently it was sent: its message may have gone to nobody (no worker was
    listening), and a worker that just started is exactly who should hear it.
    """
    first = True
    while True:
        try:
            await sweep_once(everything=first)
            first = False
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("task sweep failed; retrying", exc_info=True)
        await asyncio.sleep(float(settings.ARENA.task_sweep_seconds))
