"""The outbox's contract in one process: claims and leases, done-with-effect, retries,
dead tasks and the admin's retry, the sweeper, the metrics (lobby/outbox.py, lobby/tasks.py).

Workers in separate processes on Redis: tests/lobby/test_task_workers.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from lobby import outbox, replays, tasks
from lobby.models import LobbyState, Task, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _hooks(arena: Any) -> None:
    arena(task_test_hooks=True, task_max_attempts=3, task_backoff_seconds=10,
          task_lease_seconds=60, task_resend_seconds=30)


def new_task(kind: str = "test.record", **payload: Any) -> int:
    with transaction.atomic():
        return outbox.enqueue(kind, payload or {"key": "k"})


def run(task_id: int) -> str:
    return tasks.execute(task_id)[0]


def counter(key: str) -> str | None:
    return LobbyState.objects.filter(key=f"t.{key}").values_list("value", flat=True).first()


def expire_lease(task_id: int) -> None:
    """As if the lease ran out (the worker holding it died)."""
    Task.objects.filter(pk=task_id).update(claimed_until=timezone.now() - timedelta(seconds=1))


def test_enqueue_refuses_bad_kinds_and_payloads() -> None:
    with pytest.raises(outbox.TaskError):
        outbox.enqueue("", {})
    with pytest.raises(outbox.TaskError):
        outbox.enqueue("x" * 41, {})
    with pytest.raises(outbox.TaskError):
        outbox.enqueue("test.record", [])  # type: ignore[arg-type]


def test_a_task_is_written_only_if_its_cause_commits() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue("test.record", {"key": "k"})
        raise RuntimeError("the cause failed")
    assert not Task.objects.exists()


def test_a_claim_is_exclusive_until_its_lease_ends() -> None:
    task_id = new_task()
    first = outbox.claim(task_id)
    assert first is not None and first[1] == "test.record"
    assert outbox.claim(task_id) is None  # another worker hearing the same message
    expire_lease(task_id)
    second = outbox.claim(task_id)
    assert second is not None and second[0] != first[0]
    # The first worker comes back late: its claim is no longer the task's.
    assert outbox.complete(task_id, first[0], lambda task: 1) == (False, None)
    assert outbox.complete(task_id, second[0], lambda task: 2) == (True, 2)
    task = Task.objects.get()
    assert (task.status, task.attempts) == ("done", 2)


def test_the_effect_and_the_done_mark_commit_together() -> None:
    task_id = new_task()
    token, _ = outbox.claim(task_id) or ("", "")

    def effect(task: Task) -> None:
        LobbyState.objects.create(key="t.half", value="1")
        raise RuntimeError("worker fails mid-task")

    with pytest.raises(RuntimeError):
        outbox.complete(task_id, token, effect)
    assert counter("half") is None
    assert Task.objects.get().status == "pending"


def test_a_done_task_never_runs_again() -> None:
    task_id = new_task(key="once")
    assert run(task_id) == "done"
    assert run(task_id) == "skipped"
    assert counter("once") == "1"


def test_failures_back_off_then_the_task_is_dead_then_the_admin_retries_it(
    tmp_path: Any,
) -> None:
    fixed = tmp_path / "fixed"
    task_id = new_task("test.fail", key="f", fixed=str(fixed))
    assert run(task_id) == "failed"
    task = Task.objects.get()
    assert "told to fail" in task.last_error
    delay = (task.due_at - timezone.now()).total_seconds()
    assert 8 < delay <= 10  # TASK_BACKOFF_SECONDS after the first failure
    assert run(task_id) == "skipped"  # not due yet
    Task.objects.filter(pk=task_id).update(due_at=timezone.now())
    assert run(task_id) == "failed"
    task = Task.objects.get()
    assert 18 < (task.due_at - timezone.now()).total_seconds() <= 20  # doubled
    Task.objects.filter(pk=task_id).update(due_at=timezone.now())
    assert run(task_id) == "dead"
    assert Task.objects.get().status == "dead"
    assert run(task_id) == "skipped"

    admin = User.objects.create_superuser("boss", password="x" * 12)
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/lobby/task/?status__exact=dead")
    assert listing.status_code == 200 and b"test.fail" in listing.content
    fixed.write_text("fixed")
    answer = client.post("/admin/lobby/task/", {"action": "retry_dead",
                                                "_selected_action": [task_id]})
    assert answer.status_code == 302
    task = Task.objects.get()
    assert (task.status, task.attempts, task.sent_at) == ("pending", 0, None)
    assert run(task_id) == "done"
    assert counter("f") == "1"


def test_a_task_whose_workers_keep_dying_is_parked_dead() -> None:
    task_id = new_task()
    for _ in range(3):
        assert outbox.claim(task_id) is not None
        expire_lease(task_id)  # the worker was killed mid-task
    assert outbox.claim(task_id) is None
    task = Task.objects.get()
    assert task.status == "dead" and "stopped mid-task" in task.last_error


def test_the_sweeper_sends_unsent_and_stale_tasks_but_not_leased_ones() -> None:
    fresh, leased, sent = new_task(), new_task(), new_task()
    outbox.claim(leased)
    outbox.mark_sent([sent])
    assert outbox.due_for_send() == [fresh]
    assert outbox.due_for_send() == []  # just sent
    Task.objects.filter(pk__in=[fresh, sent]).update(
        sent_at=timezone.now() - timedelta(seconds=31))
    expire_lease(leased)
    assert sorted(outbox.due_for_send()) == sorted([fresh, leased, sent])


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.mark.django_db(transaction=True)
async def test_the_embedded_sweeper_runs_a_backlog_and_exports_metrics(arena: Any) -> None:
    from channels.db import database_sync_to_async

    from gameserver import workers

    arena(task_test_hooks=True, task_sweep_seconds=0.05, task_resend_seconds=30)
    done_before = sample("arena_tasks_done_total", {"kind": "test.record"})
    latency_before = sample("arena_task_latency_seconds_count")

    @database_sync_to_async
    def backlog() -> list[int]:
        # The hourly replay cleanup (another task) is not due during this test.
        LobbyState.objects.update_or_create(key=replays.CLEANUP_KEY,
                                            defaults={"value": str(2**40)})
        with transaction.atomic():  # never sent: as if left by a server that stopped
            return [outbox.enqueue("test.record", {"key": f"b{i}"}) for i in range(20)]

    @database_sync_to_async
    def pending() -> int:
        return Task.objects.filter(status="pending").count()

    await backlog()
    workers.ensure_embedded()
    try:
        for _ in range(200):
            if not await pending():
                break
            await asyncio.sleep(0.05)  # polled: the worker runs beside this test
        assert await pending() == 0
        await tasks.sweep_once()
    finally:
        await workers.stop_embedded()
    assert sample("arena_tasks_done_total", {"kind": "test.record"}) - done_before == 20
    assert sample("arena_task_latency_seconds_count") - latency_before == 20
    assert sample("arena_tasks_pending") == 0


def test_a_first_sweep_sends_even_recently_sent_tasks() -> None:
    sent, leased = new_task(), new_task()
    outbox.mark_sent([sent, leased])
    outbox.claim(leased)
    assert outbox.due_for_send() == []
    assert outbox.due_for_send(everything=True) == [sent]  # never a leased one
