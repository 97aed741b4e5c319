"""The task queue with real parts: redis-server, `manage.py runworker arena-tasks` processes.

The test process acts on the same database and Redis through tests/lobby/taskctl.py
(the outbox's `enqueue` + `asend`, the Django admin's action). Workers run
with short timings (lease 2 s, resend 1 s, sweep 0.2 s, backoff 0.2 s, 3
attempts) so that what takes minutes in production takes seconds here; the
test-only task kinds (`TASK_TEST_HOOKS=true`, lobby/tasks.py) give each
task an effect that shows how often it was applied (a counter `t.<key>`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from load_tests.bench import scratch_postgres
from tests.servers import (
    ROOT,
    RedisServer,
    free_port,
    migrate,
    server_env,
    wait_until,
)

pytestmark = [pytest.mark.redis, pytest.mark.live]

TIMINGS = {
    "TASK_TEST_HOOKS": "true",
    "TASK_LEASE_SECONDS": "2",
    "TASK_RESEND_SECONDS": "1",
    "TASK_SWEEP_SECONDS": "0.2",
    "TASK_BACKOFF_SECONDS": "0.2",
    "TASK_MAX_ATTEMPTS": "3",
    "LOG_LEVEL": "ERROR",
}


@dataclass
class Deployment:
    """A database, a redis-server, and the worker processes started on them."""

    env: dict[str, str]
    workdir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ctl(self, *args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "tests.lobby.taskctl", *args], cwd=ROOT, env=self.env,
            capture_output=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return json.loads(done.stdout.decode().strip().splitlines()[-1])

    def enqueue(self, kind: str, count: int, payload: dict[str, Any]) -> list[int]:
        return list(self.ctl("enqueue", kind, str(count), json.dumps(payload))["ids"])

    def stats(self) -> dict[str, Any]:
        return dict(self.ctl("stats"))

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"worker-{len(self.workers)}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "arena-tasks"],
            cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.workdir.glob("worker-*.log"))

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    workdir = Path(tempfile.mkdtemp(prefix="arena-tasks-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        redis = RedisServer.start()
        stack.callback(redis.stop)
        env = server_env(workdir / "db.sqlite3", {"REDIS_URL": redis.url, **TIMINGS})
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith("postgres"):
            env["DATABASE_URL"] = stack.enter_context(scratch_postgres(url, prefix="arena_live"))
        migrate(env)
        found = Deployment(env=env, workdir=workdir)
        stack.callback(found.stop)
        found.ctl("reset")
        yield found


def statuses(stats: dict[str, Any]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for task in stats["tasks"]:
        counted[task["status"]] = counted.get(task["status"], 0) + 1
    return counted


def all_done(deployment: Deployment, count: int) -> bool:
    return statuses(deployment.stats()).get("done", 0) == count


def test_a_worker_killed_mid_task_leaves_the_effect_applied_exactly_once(
    deployment: Deployment,
) -> None:
    gate = deployment.workdir / "gate"
    first = deployment.start_worker()
    [task_id] = deployment.enqueue("test.block", 1, {"key": "k", "gate": str(gate)})
    wait_until(lambda: Path(f"{gate}.started").exists(), 30, "the task to start")
    first.send_signal(signal.SIGKILL)  # mid-task: its effect is applied but not committed
    first.wait(10)
    gate.write_text("open")
    assert deployment.stats()["counts"] == {}
    deployment.start_worker()
    wait_until(lambda: all_done(deployment, 1), 60, f"task {task_id} done\n{deployment.logs()}")
    stats = deployment.stats()
    assert stats["counts"] == {"t.k": "1"}
    assert stats["tasks"][0]["attempts"] == 2


def scrape(port: int) -> dict[str, float]:
    """A worker's task metrics (WORKER_METRICS_PORT), by sample name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("arena_task")
    }


def test_a_burst_of_1000_tasks_is_all_done_none_twice(deployment: Deployment) -> None:
    ports = [free_port(), free_port()]
    for port in ports:
        deployment.start_worker(WORKER_METRICS_PORT=str(port))
    ids = deployment.enqueue("test.record", 1000, {"key": "b{i}"})
    assert len(ids) == 1000
    wait_until(lambda: all_done(deployment, 1000), 240, f"1000 tasks done\n{deployment.logs()}")
    counts = deployment.stats()["counts"]
    assert len(counts) == 1000
    assert set(counts.values()) == {"1"}
    done = 'arena_tasks_done_total{"kind": "test.record"}'
    assert sum(scrape(port)[done] for port in ports) == 1000  # counted once each, too
    # Each worker's sweep (every 0.2 s here) sets its gauge from the table. The
    # sweepers may also have queued the hourly `replay.cleanup` (at start, or
    # when the clock crosses an hour), which counts as pending until it is done.
    try:
        wait_until(lambda: all(scrape(p)["arena_tasks_pending{}"] == 0 for p in ports), 30,
                   "the queue-depth gauge to reach 0")
    except TimeoutError as exc:
        gauges = [scrape(p)["arena_tasks_pending{}"] for p in ports]
        raise AssertionError(f"{exc}: gauges {gauges}, unfinished "
                             f"{deployment.ctl('unfinished')}\n{deployment.logs()}") from exc


def test_a_failing_task_is_retried_then_dead_then_retried_from_the_admin(
    deployment: Deployment,
) -> None:
    fixed = deployment.workdir / "fixed"
    deployment.start_worker()
    [task_id] = deployment.enqueue("test.fail", 1, {"key": "f", "fixed": str(fixed)})

    def dead() -> bool:
        return statuses(deployment.stats()).get("dead") == 1

    wait_until(dead, 60, f"task {task_id} dead\n{deployment.logs()}")
    [task] = deployment.stats()["tasks"]
    assert task["attempts"] == 3  # TASK_MAX_ATTEMPTS
    assert "told to fail" in task["last_error"]
    fixed.write_text("fixed")
    assert deployment.ctl("admin-retry", str(task_id)) == {"status": 302}
    wait_until(lambda: all_done(deployment, 1), 60, f"task {task_id} done after the retry")
    assert deployment.stats()["counts"] == {"t.f": "1"}


def test_a_backlog_left_while_no_worker_ran_is_done_once_one_starts(
    deployment: Deployment,
) -> None:
    # The messages of tasks enqueued while no worker listens are lost (Redis
    # pub/sub keeps nothing); the outbox keeps the tasks. A few seconds stand
    # in for "a minute": nothing in the queue depends on how long it was.
    ids = deployment.enqueue("test.record", 50, {"key": "g{i}"})
    time.sleep(3)  # no worker: nothing may happen meanwhile
    assert statuses(deployment.stats()) == {"pending": 50}
    # Their messages count as sent: only the new worker's first sweep (which
    # resends however recently sent) can pick them up within the resend time.
    deployment.start_worker(TASK_RESEND_SECONDS="600")
    wait_until(lambda: all_done(deployment, len(ids)), 60, f"backlog done\n{deployment.logs()}")
    assert set(deployment.stats()["counts"].values()) == {"1"}
