"""Lobby chat burst: many lobby sockets, a burst of messages, then the stored history.

:func:`lobby_burst` takes ``clients`` guest sessions, opens one
``/ws/lobby/?token=`` socket each (JSON text frames), then sends ``messages``
``chat.send`` frames as fast as possible, round-robin over the clients (each
text is ``burst-<run>-<n>``), once every socket has its connect frames
(``hello``, ``presence``, ``rooms``). Every client should receive every message as a
``chat.message`` frame: expected deliveries = ``messages × clients``.
Latency = receipt time − send time of that message (same process, monotonic
clock). It waits until everything arrived or nothing new came for
``quiet_s`` (bounded by ``timeout_s``), then pages ``GET /api/chat/lobby``
(``limit``, ``before=<id>`` cursor) to check every message was stored.

The sockets are :mod:`load_tests.wsclient`'s lean client: 2,000 messages to
200 clients are 400,000 frames to read in this one process, and a
general-purpose client's task wake-up and queue per frame would measure the
reader, not the server. Where ``/metrics`` answers, the report also has how
many batches the server stored the burst in (``server_batches``), and with
``server_pid`` the server's CPU seconds over the burst (``server_cpu_s``).
``reader_cpu_s`` is this process's CPU over the same span: the sender and
reader of all the frames, which shares the machine with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import Counter
from typing import Any
from urllib.parse import quote, urlsplit

from load_tests.http import HttpError, request
from load_tests.metrics import proc_cpu_seconds
from load_tests.stats import summarize
from load_tests.wsclient import LeanWebSocket, connect

CHAT_MARK = '"type":"chat.message"'
"""How a ``chat.message`` frame starts its JSON on the wire (compact separators)."""
BATCH_METRIC = "arena_chat_batch_messages"


async def _guest(base: str, name: str, sem: asyncio.Semaphore) -> str:
    async with sem:
        resp = await request("POST", f"{base}/api/session/guest", json_body={"name": name},
                             timeout=20.0)
    if resp.status not in (200, 201):
        raise HttpError(f"guest session: HTTP {resp.status} {resp.body[:200]!r}")
    return str(resp.json()["token"])


def server_batches(text: str) -> tuple[float, float] | None:
    """(batches, messages) from the ``arena_chat_batch_messages`` histogram of a /metrics page."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (f"{BATCH_METRIC}_count", f"{BATCH_METRIC}_sum"):
            found[name] = float(value)
    if len(found) < 2:
        return None
    return found[f"{BATCH_METRIC}_count"], found[f"{BATCH_METRIC}_sum"]


async def _scrape_batches(base: str) -> tuple[float, float] | None:
    try:
        resp = await request("GET", f"{base}/metrics", timeout=10.0)
    except (OSError, TimeoutError, HttpError):
        return None
    return server_batches(resp.body.decode("utf-8", "replace")) if resp.status == 200 else None


async def lobby_burst(base_url: str, clients: int = 200, messages: int = 2000,
                      timeout_s: float = 90.0, quiet_s: float = 5.0,
                      server_pid: int | None = None,
                      connect_wait_s: float = 30.0) -> dict[str, Any]:
    """Run the burst against ``base_url`` (``http://host:port``) and return its figures.

    ``server_pid`` (a server on this machine) adds its CPU seconds from the
    first send to the last delivery. The first send waits (at most
    ``connect_wait_s``) until every socket has its connect frames; sockets
    still without them then are counted in ``errors["not_ready"]``.
    """
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    ws_base = ("wss" if parts.scheme == "https" else "ws") + "://" + parts.netloc
    run_id = secrets.token_hex(3)
    prefix = f"burst-{run_id}-"
    errors: Counter[str] = Counter()
    sem = asyncio.Semaphore(20)
    tokens = await asyncio.gather(*(_guest(base, f"lobby{i}", sem) for i in range(clients)))
    sent_at: dict[int, float] = {}
    received: list[int] = [0] * messages
    latencies: list[float] = []
    total = 0
    expected = messages * clients
    done = asyncio.Event()
    last_progress = 0.0

    def on_message(raw: bytes | str) -> None:
        # Called for every frame of every socket: the chat frames this burst
        # sent are read without a JSON parse (the server's JSON is compact and
        # a quote inside a text is escaped, so the marker cannot come from one).
        nonlocal total, last_progress
        if not isinstance(raw, str):
            errors["binary_frame"] += 1
            return
        start = raw.find(prefix)
        if start < 0 or CHAT_MARK not in raw:
            _other(raw)
            return
        start += len(prefix)
        n = int(raw[start:raw.index('"', start)])
        now = time.monotonic()
        received[n] += 1
        total += 1
        last_progress = now
        sent = sent_at.get(n)
        if sent is not None:
            latencies.append((now - sent) * 1000.0)
        if total >= expected:
            done.set()

    ready = 0
    all_ready = asyncio.Event()

    def _other(raw: str) -> None:
        nonlocal ready
        try:
            msg = json.loads(raw)
        except ValueError:
            errors["bad_json"] += 1
            return
        if not isinstance(msg, dict):
            return
        if msg.get("type") == "error":
            errors[f"error_{msg.get('code', '?')}"] += 1
        elif msg.get("type") == "rooms":
            # The last of a socket's connect frames (hello, presence, rooms):
            # the server is done with that socket's connect.
            ready += 1
            if ready >= clients:
                all_ready.set()

    sockets: list[LeanWebSocket] = []
    for t in tokens:
        sockets.append(await connect(f"{ws_base}/ws/lobby/?token={quote(t, safe='')}",
                                     on_message, timeout=20.0))
    # The burst starts once every socket's connect is done on the server (its
    # presence and room-list queries, the presence frames to the others):
    # else the burst measures the tail of 200 connects too.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(connect_wait_s):
            await all_ready.wait()
    if not all_ready.is_set():
        errors["not_ready"] += clients - ready
    batches_before = await _scrape_batches(base)
    cpu_before = proc_cpu_seconds(server_pid) if server_pid else None
    reader_before = time.process_time()
    t_send = last_progress = time.monotonic()
    # Round-robin over the clients, as fast as the sockets take them.
    for n in range(messages):
        ws = sockets[n % clients]
        if not ws.open:
            errors["send_closed"] += 1
            continue
        sent_at[n] = time.monotonic()
        ws.send(json.dumps({"type": "chat.send", "text": f"{prefix}{n}"}))
    send_s = time.monotonic() - t_send
    deadline = t_send + timeout_s
    while not done.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await done.wait()
        if time.monotonic() - last_progress > quiet_s:
            break
    deliver_s = time.monotonic() - t_send
    cpu_after = proc_cpu_seconds(server_pid) if server_pid else None
    reader_cpu_s = time.process_time() - reader_before
    batches_after = await _scrape_batches(base)
    await asyncio.gather(*(ws.close() for ws in sockets))
    for ws in sockets:
        if ws.close_code not in (None, 1000, 1005):
            errors[f"close_{ws.close_code}"] += 1
    stored = await _stored(base, tokens[0], prefix, messages, errors)
    lat = summarize(latencies, (50, 99))
    report: dict[str, Any] = {
        "clients": clients,
        "messages": messages,
        "expected_deliveries": expected,
        "delivered": total,
        "lost": expected - total,
        "messages_fully_delivered": sum(1 for c in received if c >= clients),
        "latency_ms": {"p50": lat["p50"], "p99": lat["p99"],
                       "max": round(max(latencies), 2) if latencies else None},
        "send_s": round(send_s, 3),
        "deliver_s": round(deliver_s, 3),
        "stored": stored,
        "missing_from_history": messages - stored,
        "server_cpu_s": (round(cpu_after - cpu_before, 2)
                         if cpu_before is not None and cpu_after is not None else None),
        "reader_cpu_s": round(reader_cpu_s, 2),
        "server_batches": None,
        "errors": dict(sorted(errors.items())),
    }
    if batches_before is not None and batches_after is not None:
        count = batches_after[0] - batches_before[0]
        report["server_batches"] = {
            "batches": int(count),
            "messages_per_batch": round((batches_after[1] - batches_before[1]) / count, 1)
            if count else None,
        }
    return report


async def _stored(base: str, token: str, prefix: str, messages: int,
                  errors: Counter[str]) -> int:
    """Page the lobby history backwards and count this burst's distinct messages."""
    seen: set[str] = set()
    before: int | None = None
    for _ in range(messages // 50 + 20):
        url = f"{base}/api/chat/lobby?limit=100" + (f"&before={before}" if before else "")
        try:
            resp = await request("GET", url, token=token, timeout=20.0)
        except (OSError, TimeoutError, HttpError):
            errors["history_http"] += 1
            break
        if resp.status != 200:
            errors[f"history_{resp.status}"] += 1
            break
        page = resp.json().get("messages", [])
        if not page:
            break
        for m in page:
            text = str(m.get("text", ""))
            if text.startswith(prefix):
                seen.add(text)
        oldest = page[0].get("id")
        if not isinstance(oldest, int) or (before is not None and oldest >= before):
            break
        before = oldest
        if len(seen) >= messages:
            break
    return len(seen)
