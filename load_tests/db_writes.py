"""Database statements per guest session, room join, leave and chat message.

``python -m load_tests.db_writes --json OUT`` runs the project's real ASGI
application in this process (``gameserver.asgi``: HTTP and both sockets
through Channels' test communicators, the same consumers and views a daphne
process runs) on the database ``DATABASE_URL`` names, which must be migrated.
Every SQL statement on every database connection, from every thread (the
sync views and the consumers' thread-sensitive executor each hold their own),
passes a Django ``execute_wrapper`` installed by the ``connection_created``
signal, and is counted by its first keyword: ``INSERT``/``UPDATE``/
``DELETE``/``REPLACE`` are writes (``executemany`` counts one per row),
``SELECT``/``WITH`` reads, the rest (savepoints, pragmas) other.

Steps, each followed by a settle (no new statement for 0.3 s, at most 5 s):
``players`` guest sessions (``POST /api/session/guest``); each opens a game
socket to one new room until its ``welcome`` (the first join creates the
room, the others take seats); one lobby socket sends ``messages`` chat
messages, each awaited as its ``chat.message`` (stored before it is sent);
every game socket disconnects (leave: its writes come after the reconnect
grace, so run with ``RECONNECT_GRACE_SECONDS=0`` to count them). The JSON
holds, per step, the writes, reads and other statements per event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import protocol

SETTLE_QUIET_S = 0.3
SETTLE_MAX_S = 5.0
TIMEOUT_S = 10.0


def classify(sql: str) -> str:
    """``write``, ``read`` or ``other`` by the statement's first keyword."""
    words = sql.split(None, 1)
    first = words[0].upper() if words else ""
    if first in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
        return "write"
    if first in ("SELECT", "WITH"):
        return "read"
    return "other"


class StatementCounter:
    """A Django execute wrapper counting statements by kind, from any thread."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.last = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool,
                 context: dict[str, Any]) -> Any:
        n = len(params) if many and params is not None else 1
        with self._lock:
            self.counts[classify(sql)] += n
            self.last = time.monotonic()
        return execute(sql, params, many, context)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)

    async def settle(self) -> None:
        """Return once no statement ran for SETTLE_QUIET_S since the call (work the step
        left to background tasks gets that long to start), or after SETTLE_MAX_S."""
        start = time.monotonic()
        deadline = start + SETTLE_MAX_S
        while time.monotonic() < deadline:
            with self._lock:
                quiet = time.monotonic() - max(self.last, start)
            if quiet >= SETTLE_QUIET_S:
                return
            await asyncio.sleep(SETTLE_QUIET_S - quiet)


def per_event(before: Counter[str], after: Counter[str], events: int) -> dict[str, float]:
    """Statements of each kind between two snapshots, per event."""
    return {k: round((after[k] - before[k]) / max(1, events), 3)
            for k in ("write", "read", "other")}


async def _frame_until(ws: Any, kind: str) -> dict[str, Any]:
    """Read a game socket until a frame of type ``kind``."""
    while True:
        out = await ws.receive_output(TIMEOUT_S)
        if out["type"] == "websocket.close":
            raise RuntimeError(f"game socket closed {out.get('code')} before {kind}")
        if out.get("bytes") is not None:
            frame = protocol.decode(out["bytes"])
            if frame.get("t") == kind:
                return frame


async def _json_until(ws: Any, kind: str) -> dict[str, Any]:
    """Read a lobby socket until a frame of ``type`` ``kind``."""
    while True:
        frame: dict[str, Any] = await ws.receive_json_from(TIMEOUT_S)
        if frame.get("type") == kind:
            return frame


async def measure(counter: StatementCounter, players: int, messages: int) -> dict[str, Any]:
    """The steps of the module docstring; returns the per-event figures."""
    from channels.testing import HttpCommunicator, WebsocketCommunicator

    from gameserver.asgi import application

    out: dict[str, Any] = {"players": players, "messages": messages}
    await counter.settle()
    c0 = counter.snapshot()
    tokens = []
    for i in range(players):
        http = HttpCommunicator(application, "POST", "/api/session/guest",
                                body=json.dumps({"name": f"cap{i}"}).encode(),
                                headers=[(b"host", b"127.0.0.1"),
                                         (b"content-type", b"application/json")])
        resp = await http.get_response(timeout=TIMEOUT_S)
        if resp["status"] != 201:
            raise RuntimeError(f"guest session: HTTP {resp['status']} {resp['body'][:200]!r}")
        tokens.append(str(json.loads(resp["body"])["token"]))
    await counter.settle()
    c1 = counter.snapshot()
    out["guest_session"] = per_event(c0, c1, players)

    room = f"capacity-{int(time.time())}"
    sockets = []
    marks = [c1]
    for token in tokens:
        ws = WebsocketCommunicator(application, f"/ws/game/{room}/?token={token}")
        connected, _ = await ws.connect(timeout=TIMEOUT_S)
        if not connected:
            raise RuntimeError("game socket refused")
        await _frame_until(ws, "welcome")
        sockets.append(ws)
        await counter.settle()
        marks.append(counter.snapshot())
    out["first_join"] = per_event(marks[0], marks[1], 1)
    out["join"] = per_event(marks[1], marks[-1], players - 1)

    lobby = WebsocketCommunicator(application, f"/ws/lobby/?token={tokens[0]}")
    connected, _ = await lobby.connect(timeout=TIMEOUT_S)
    if not connected:
        raise RuntimeError("lobby socket refused")
    await _json_until(lobby, "rooms")
    await counter.settle()
    c2 = counter.snapshot()
    out["lobby_connect"] = per_event(marks[-1], c2, 1)
    for i in range(messages):
        await lobby.send_json_to({"type": "chat.send", "text": f"capacity {i}"})
        await _json_until(lobby, "chat.message")
    await counter.settle()
    c3 = counter.snapshot()
    out["chat_message"] = per_event(c2, c3, messages)
    await lobby.disconnect()

    await counter.settle()
    c4 = counter.snapshot()
    for ws in sockets:
        await ws.disconnect()
    await counter.settle()
    out["leave"] = per_event(c4, counter.snapshot(), players)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load_tests.db_writes",
                                description="Count database statements per join and chat.")
    p.add_argument("--players", type=int, default=10, help="guest sessions joining one room")
    p.add_argument("--messages", type=int, default=20, help="chat messages sent")
    p.add_argument("--json", type=Path, required=True, metavar="OUT")
    a = p.parse_args(argv)
    if a.players < 2 or a.messages < 1:
        p.error("--players must be at least 2 and --messages at least 1")
    import django
    from django.db.backends.signals import connection_created

    counter = StatementCounter()

    def install(sender: Any, connection: Any, **_: Any) -> None:
        # Sent on every (re)connect of a thread's connection object, which
        # keeps its wrappers: install once.
        if counter not in connection.execute_wrappers:
            connection.execute_wrappers.append(counter)

    connection_created.connect(install, weak=False)
    django.setup()
    from django.db import connection

    result = asyncio.run(measure(counter, a.players, a.messages))
    result["vendor"] = connection.vendor
    a.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
