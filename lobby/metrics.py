"""Prometheus metrics the lobby counts itself (the task queue's are in lobby/taskmetrics.py).

They live in prometheus-client's default registry, which `/metrics`
(gameserver/views.py) exports with the runtime's own.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_RATE_LIMITED = Counter(
    "arena_http_rate_limited_total", "HTTP API calls refused with 429", ["scope"]
)

CHAT_BATCH_MESSAGES = Histogram(
    "arena_chat_batch_messages",
    "Chat messages per stored batch (one transaction each; lobby/chat.py)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
