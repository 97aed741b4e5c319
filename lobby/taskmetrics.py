"""Prometheus metrics of the task queue (docs/tasks.md, docs/operations.md).

Exported by whichever process runs tasks: each `runworker` process (on
`WORKER_METRICS_PORT`, or through `PROMETHEUS_MULTIPROC_DIR`), and the server
process in the embedded mode (its `/metrics`). Labels are bounded: `kind` is
one of the registered task kinds (`other` for anything else).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

KINDS = ("match.finished", "replay.cleanup", "test.record", "test.fail", "test.block")
"""Every task kind: the only values of the `kind` label."""

PENDING = Gauge(
    "arena_tasks_pending", "Queue depth: tasks not yet done (counted by the last sweep)",
    multiprocess_mode="max",
)
DEAD_NOW = Gauge(
    "arena_tasks_dead", "Tasks parked as dead (counted by the last sweep)",
    multiprocess_mode="max",
)
DONE = Counter("arena_tasks_done_total", "Tasks run to completion", ["kind"])
LATENCY = Histogram(
    "arena_task_latency_seconds", "From enqueue to done (includes retries and waiting)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
RETRIES = Counter("arena_task_retries_total", "Task runs after the first (failures, lost workers)")
FAILURES = Counter("arena_task_failures_total", "Task runs that raised", ["kind"])
DEAD = Counter("arena_task_deaths_total", "Tasks parked as dead after their last attempt")

for _kind in (*KINDS, "other"):
    DONE.labels(_kind)
    FAILURES.labels(_kind)


def kind_label(kind: str) -> str:
    """The bounded label of a task kind."""
    return kind if kind in KINDS else "other"
