"""Lobby chat burst: many lobby sockets, a burst of messages, then the stored history.

:func:`lobby_burst` takes ``clients`` guest sessions, opens one
``/ws/lobby/?token=`` socket each (JSON text frames), then sends ``messages``
``chat.send`` frames as fast as possible, round-robin over the clients (each
text is ``burst-<run>-<n>``). Every client should receive every message as a
``chat.message`` frame: expected deliveries = ``messages × clients``.
Latency = receipt time − send time of that message (same process, monotonic
clock). It waits until everything arrived or nothing new came for
``quiet_s`` (bounded by ``timeout_s``), then pages ``GET /api/chat/lobby``
(``limit``, ``before=<id>`` cursor) to check every message was stored.
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

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from load_tests.http import HttpError, request
from load_tests.stats import summarize


async def _guest(base: str, name: str, sem: asyncio.Semaphore) -> str:
    async with sem:
        resp = await request("POST", f"{base}/api/session/guest", json_body={"name": name},
                             timeout=20.0)
    if resp.status not in (200, 201):
        raise HttpError(f"guest session: HTTP {resp.status} {resp.body[:200]!r}")
    return str(resp.json()["token"])


async def lobby_burst(base_url: str, clients: int = 200, messages: int = 2000,
                      timeout_s: float = 90.0, quiet_s: float = 5.0) -> dict[str, Any]:
    """Run the burst against ``base_url`` (``http://host:port``) and return its figures."""
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    ws_base = ("wss" if parts.scheme == "https" else "ws") + "://" + parts.netloc
    run_id = secrets.token_hex(3)
    prefix = f"burst-{run_id}-"
    errors: Counter[str] = Counter()
    sem = asyncio.Semaphore(20)
    tokens = await asyncio.gather(*(_guest(base, f"lobby{i}", sem) for i in range(clients)))
    sockets: list[ClientConnection] = []
    for t in tokens:
        async with asyncio.timeout(20):
            sockets.append(await connect(f"{ws_base}/ws/lobby/?token={quote(t, safe='')}",
                                         compression=None, close_timeout=2, max_queue=None))
    sent_at: dict[int, float] = {}
    received: list[int] = [0] * messages
    latencies: list[float] = []
    total = 0
    expected = messages * clients
    done = asyncio.Event()
    last_progress = time.monotonic()

    async def reader(ws: ClientConnection) -> None:
        nonlocal total, last_progress
        try:
            async for raw in ws:
                now = time.monotonic()
                try:
                    msg = json.loads(raw)
                except ValueError:
                    errors["bad_json"] += 1
                    continue
                kind = msg.get("type")
                if kind == "chat.message":
                    text = str(msg.get("text", ""))
                    if not text.startswith(prefix):
                        continue
                    n = int(text[len(prefix):])
                    received[n] += 1
                    total += 1
                    last_progress = now
                    sent = sent_at.get(n)
                    if sent is not None:
                        latencies.append((now - sent) * 1000.0)
                    if total >= expected:
                        done.set()
                elif kind == "error":
                    errors[f"error_{msg.get('code', '?')}"] += 1
        except ConnectionClosed:
            pass
        if ws.close_code not in (None, 1000):
            errors[f"close_{ws.close_code}"] += 1

    loop = asyncio.get_running_loop()
    readers = [loop.create_task(reader(ws)) for ws in sockets]

    async def sender(k: int) -> None:
        ws = sockets[k]
        for n in range(k, messages, clients):
            sent_at[n] = time.monotonic()
            try:
                await ws.send(json.dumps({"type": "chat.send", "text": f"{prefix}{n}"}))
            except ConnectionClosed:
                errors["send_closed"] += 1
                return

    t_send = time.monotonic()
    await asyncio.gather(*(sender(k) for k in range(min(clients, messages))))
    send_s = time.monotonic() - t_send
    deadline = t_send + timeout_s
    while not done.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await done.wait()
        if time.monotonic() - last_progress > quiet_s:
            break
    deliver_s = time.monotonic() - t_send
    for ws in sockets:
        with contextlib.suppress(ConnectionClosed, InvalidHandshake, OSError):
            await ws.close()
    for r in readers:
        r.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    stored = await _stored(base, tokens[0], prefix, messages, errors)
    lat = summarize(latencies, (50, 99))
    return {
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
        "errors": dict(sorted(errors.items())),
    }


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
