"""A command line onto a live deployment's task queue, for tests that run real workers.

    python -m tests.lobby.taskctl enqueue KIND COUNT PAYLOAD_JSON [--no-send]  # "{i}" → 0..COUNT-1
    python -m tests.lobby.taskctl stats
    python -m tests.lobby.taskctl admin-retry ID [ID ...]
    python -m tests.lobby.taskctl reset

It runs with the deployment's environment (DATABASE_URL, REDIS_URL), so the
test process reads and writes the same database and channel layer as the
`runworker` processes, through the project's public code paths: the outbox
(`enqueue` in one transaction, then `asend`) and the Django admin's action.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gameserver.settings")
    import django

    django.setup()
    from django.db import transaction

    from lobby import outbox
    from lobby.models import LobbyState, Task

    command, args = argv[0], argv[1:]
    result: Any
    if command == "enqueue":
        kind, count, template = args[0], int(args[1]), args[2]
        with transaction.atomic():
            ids = [
                outbox.enqueue(kind, json.loads(template.replace("{i}", str(i))))
                for i in range(count)
            ]
        # --no-send: as if the process stopped between the commit and the send.
        sent = 0 if "--no-send" in args[3:] else asyncio.run(_send(ids))
        result = {"ids": ids, "sent": sent}
    elif command == "stats":
        # The test kinds only: the sweepers also enqueue the hourly `replay.cleanup`.
        tasks = list(Task.objects.filter(kind__startswith="test.").order_by("id")
                     .values("id", "status", "attempts", "last_error"))
        counts = dict(LobbyState.objects.filter(key__startswith="t.").values_list("key", "value"))
        result = {"tasks": tasks, "counts": counts}
    elif command == "unfinished":  # every kind: what keeps the queue-depth gauge above 0
        result = {"tasks": list(Task.objects.exclude(status=Task.DONE).order_by("id").values(
            "id", "kind", "status", "attempts", "last_error", "claim", "due_at", "claimed_until"))}
    elif command == "admin-retry":
        from django.test import Client

        from lobby.models import User

        admin, _ = User.objects.get_or_create(
            username="taskctl-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(admin)
        answer = client.post("/admin/lobby/task/", {
            "action": "retry_dead", "_selected_action": [int(a) for a in args], "index": 0,
        })
        result = {"status": answer.status_code}
    elif command == "reset":
        Task.objects.all().delete()
        LobbyState.objects.filter(key__startswith="t.").delete()
        result = {}
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result, default=str))
    return 0


async def _send(ids: list[int]) -> int:
    from lobby import outbox

    return await outbox.asend(ids)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
