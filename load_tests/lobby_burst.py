"""Lobby chat burst: many lobby sockets, a burst of messages, then the stored history.

:func:`lobby_burst` takes ``clients`` guest sessions, opens one
``/ws/lobby/?token=`` socket each (JSON text frames) and, once every socket
has its connect frames (``hello``, ``presence``, ``rooms``), sends
``messages`` ``chat.send`` frames as fast as possible, round-robin over the
clients (each text is ``burst-<run>-<n>``). Every client should receive every
message as a ``chat.message`` frame: expected deliveries = ``messages ×
clients``. Latency = receipt time − send time of that message, both read
from the system's monotonic clock (one clock for every process on the
machine). It waits until everything arrived or nothing new came for
``quiet_s`` (bounded by ``timeout_s``), then pages ``GET /api/chat/lobby``
(``limit``, ``before=<id>`` cursor) to check every message was stored.

The sockets are :mod:`load_tests.wsclient`'s lean client, spread over
``readers`` processes (each sends its own clients' messages and reads their
copies; every frame is parsed and every copy counted): 2,000 messages to 200
clients are 400,000 frames to read, about 1.5 µs of CPU each even so, and
one process reading them all would be what the burst measures. Where
``/metrics`` answers, the report also has how many batches the server stored
the burst in (``server_batches``), and with ``server_pid`` the server's CPU
seconds over the burst (``server_cpu_s``). ``reader_cpu_s`` is the readers'
CPU over their burst, summed: they share the machine with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import secrets
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import quote, urlsplit

from load_tests.http import HttpError, request
from load_tests.metrics import proc_cpu_seconds
from load_tests.stats import summarize
from load_tests.wsclient import HandshakeError, LeanWebSocket, connect

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


@dataclass(frozen=True)
class _Share:
    """What one reader process does: its sockets, and the burst's shape."""

    ws_base: str
    tokens: tuple[tuple[int, str], ...]
    """(client index, guest token) of this reader's sockets."""
    clients: int
    messages: int
    prefix: str
    timeout_s: float
    quiet_s: float
    connect_wait_s: float


class _Reader:
    """One reader's sockets: what it sent, and when each copy of a message arrived."""

    def __init__(self, share: _Share) -> None:
        self.share = share
        self.prefix = share.prefix
        self.skip = len(share.prefix)
        self.mine = {index for index, _ in share.tokens}
        self.sockets: dict[int, LeanWebSocket] = {}
        self.expected = share.messages * len(share.tokens)
        self.sent_at: dict[int, float] = {}
        self.recv_n = array("l")
        self.recv_t = array("d")
        self.total = 0
        self.ready = 0
        self.last_progress = 0.0
        self.errors: Counter[str] = Counter()
        self.done = asyncio.Event()
        self.all_ready = asyncio.Event()

    def on_message(self, raw: bytes | str) -> None:
        # Called for every frame of every socket: the chat frames this burst
        # sent are read without a JSON parse (the server's JSON is compact and
        # a quote inside a text is escaped, so the marker cannot come from one).
        if not isinstance(raw, str):
            self.errors["binary_frame"] += 1
            return
        start = raw.find(self.prefix)
        if start < 0 or CHAT_MARK not in raw:
            self._other(raw)
            return
        start += self.skip
        now = time.monotonic()
        self.recv_n.append(int(raw[start:raw.index('"', start)]))
        self.recv_t.append(now)
        self.last_progress = now
        self.total += 1
        if self.total >= self.expected:
            self.done.set()

    def _other(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self.errors["bad_json"] += 1
            return
        if not isinstance(msg, dict):
            return
        if msg.get("type") == "error":
            self.errors[f"error_{msg.get('code', '?')}"] += 1
        elif msg.get("type") == "rooms":
            # The last of a socket's connect frames (hello, presence, rooms):
            # the server is done with that socket's connect.
            self.ready += 1
            if self.ready >= len(self.share.tokens):
                self.all_ready.set()

    async def connect(self) -> None:
        """Open every socket, then wait (bounded) until each has its connect frames."""
        for index, token in self.share.tokens:
            self.sockets[index] = await connect(
                f"{self.share.ws_base}/ws/lobby/?token={quote(token, safe='')}",
                self.on_message, timeout=20.0)
        # The burst starts once every socket's connect is done on the server
        # (its presence and room-list queries, the presence frames to the
        # others): else the burst measures the tail of 200 connects too.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.share.connect_wait_s):
                await self.all_ready.wait()
        if not self.all_ready.is_set():
            self.errors["not_ready"] += len(self.share.tokens) - self.ready

    async def burst(self) -> float:
        """Send this reader's messages, read until all came or it went quiet; the end time."""
        share = self.share
        self.last_progress = time.monotonic()
        # Round-robin over the clients, as fast as the sockets take them:
        # message n from client n % clients, if that client is one of ours.
        for n in range(share.messages):
            index = n % share.clients
            if index not in self.mine:
                continue
            ws = self.sockets[index]
            if not ws.open:
                self.errors["send_closed"] += 1
                continue
            self.sent_at[n] = time.monotonic()
            ws.send(json.dumps({"type": "chat.send", "text": f"{share.prefix}{n}"}))
        deadline = time.monotonic() + share.timeout_s
        while not self.done.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self.done.wait()
            if time.monotonic() - self.last_progress > share.quiet_s:
                break
        return time.monotonic()

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets.values()))
        for ws in self.sockets.values():
            if ws.close_code not in (None, 1000, 1005):
                self.errors[f"close_{ws.close_code}"] += 1


async def _recv(conn: Connection, timeout: float) -> Any:
    """The next message on `conn` (None after `timeout` s), read in a thread of its own."""
    def wait() -> Any:
        return conn.recv() if conn.poll(timeout) else None
    return await asyncio.to_thread(wait)


def _reader_process(share: _Share, conn: Connection) -> None:
    """A reader process: ("ready", n) → "go" → ("done", figures) → "close" → ("closed", errors)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(_reader_session(share, conn))
    else:
        uvloop.run(_reader_session(share, conn))


async def _reader_session(share: _Share, conn: Connection) -> None:
    reader = _Reader(share)
    wait_s = share.connect_wait_s + share.timeout_s + share.quiet_s + 60.0
    try:
        try:
            await reader.connect()
        except (OSError, TimeoutError, HandshakeError) as exc:
            conn.send(("failed", f"connect: {type(exc).__name__}: {exc}"))
            return
        conn.send(("ready", reader.ready))
        if await _recv(conn, wait_s) != "go":
            return
        cpu_before = time.process_time()
        end = await reader.burst()
        conn.send(("done", {
            "sent_at": reader.sent_at, "recv_n": reader.recv_n, "recv_t": reader.recv_t,
            "end": end, "cpu_s": time.process_time() - cpu_before,
        }))
        await _recv(conn, wait_s)  # "close"
    finally:
        await reader.close()
        conn.send(("closed", dict(reader.errors)))


async def lobby_burst(base_url: str, clients: int = 200, messages: int = 2000,
                      timeout_s: float = 90.0, quiet_s: float = 5.0,
                      server_pid: int | None = None,
                      connect_wait_s: float = 30.0, readers: int = 1) -> dict[str, Any]:
    """Run the burst against ``base_url`` (``http://host:port``) and return its figures.

    The sockets are spread over ``readers`` processes (client i in reader
    i % readers), each of which sends its clients' messages and reads their
    copies. ``server_pid`` (a server on this machine) adds its CPU seconds
    from the first send to the last delivery. The first send waits (at most
    ``connect_wait_s``) until every socket has its connect frames; sockets
    still without them then are counted in ``errors["not_ready"]``.
    """
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    ws_base = ("wss" if parts.scheme == "https" else "ws") + "://" + parts.netloc
    prefix = f"burst-{secrets.token_hex(3)}-"
    errors: Counter[str] = Counter()
    sem = asyncio.Semaphore(20)
    tokens = await asyncio.gather(*(_guest(base, f"lobby{i}", sem) for i in range(clients)))
    readers = max(1, min(readers, clients))
    wait_s = connect_wait_s + 60.0
    ctx = mp.get_context("spawn")
    conns: list[Connection] = []
    procs: list[BaseProcess] = []
    for r in range(readers):
        share = _Share(ws_base, tuple((i, t) for i, t in enumerate(tokens) if i % readers == r),
                       clients, messages, prefix, timeout_s, quiet_s, connect_wait_s)
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_reader_process, args=(share, there), daemon=True,
                           name=f"lobby-burst-reader-{r}")
        proc.start()
        there.close()
        conns.append(here)
        procs.append(proc)
    try:
        for answer in await asyncio.gather(*(_recv(c, wait_s) for c in conns)):
            if not answer or answer[0] != "ready":
                raise RuntimeError(f"a reader did not get ready: {answer!r}")
        batches_before = await _scrape_batches(base)
        cpu_before = proc_cpu_seconds(server_pid) if server_pid else None
        for c in conns:
            c.send("go")
        done_s = timeout_s + quiet_s + 30.0
        answers = await asyncio.gather(*(_recv(c, done_s) for c in conns))
        cpu_after = proc_cpu_seconds(server_pid) if server_pid else None
        batches_after = await _scrape_batches(base)
        for c in conns:
            c.send("close")
        for closed in await asyncio.gather(*(_recv(c, 30.0) for c in conns)):
            if closed and closed[0] == "closed":
                errors.update(closed[1])
            else:
                errors["reader_not_closed"] += 1
    finally:
        for worker in procs:
            await asyncio.to_thread(worker.join, 10.0)
            if worker.is_alive():
                worker.terminate()
                await asyncio.to_thread(worker.join, 5.0)
        for c in conns:
            c.close()
    results = [a[1] for a in answers if a and a[0] == "done"]
    if len(results) < readers:
        raise RuntimeError(f"{readers - len(results)} of {readers} readers reported nothing")
    sent_at: dict[int, float] = {}
    for res in results:
        sent_at.update(res["sent_at"])
    received: list[int] = [0] * messages
    latencies: list[float] = []
    for res in results:
        for n, t in zip(res["recv_n"], res["recv_t"], strict=True):
            if not 0 <= n < messages:
                errors["unknown_message"] += 1
                continue
            received[n] += 1
            sent = sent_at.get(n)
            if sent is not None:
                latencies.append((t - sent) * 1000.0)
    first_send = min(sent_at.values(), default=0.0)
    total = sum(received)
    expected = messages * clients
    stored = await _stored(base, tokens[0], prefix, messages, errors)
    lat = summarize(latencies, (50, 99))
    report: dict[str, Any] = {
        "clients": clients,
        "messages": messages,
        "readers": readers,
        "expected_deliveries": expected,
        "delivered": total,
        "lost": expected - total,
        "messages_fully_delivered": sum(1 for c in received if c >= clients),
        "latency_ms": {"p50": lat["p50"], "p99": lat["p99"],
                       "max": round(max(latencies), 2) if latencies else None},
        "send_s": round(max(sent_at.values(), default=first_send) - first_send, 3),
        "deliver_s": round(max(res["end"] for res in results) - first_send, 3),
        "stored": stored,
        "missing_from_history": messages - stored,
        "server_cpu_s": (round(cpu_after - cpu_before, 2)
                         if cpu_before is not None and cpu_after is not None else None),
        "reader_cpu_s": round(sum(res["cpu_s"] for res in results), 2),
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
