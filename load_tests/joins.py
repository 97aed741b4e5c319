"""A join storm: how fast one server takes new players in.

Two phases against one base URL, each at ``concurrency`` clients in flight:

1. ``sessions`` guest sessions (``POST /api/session/guest``), each a new
   user with its bearer token; the rate is sessions answered 201 per second
   of the phase. A server without ``/api`` (the reference server) has no
   phase 1: it is reported as not applicable.
2. as many game sockets to ``welcome`` (``/ws/game/<prefix>-<n>/``,
   ``players_per_room`` to a room, with the tokens of phase 1): the rate is
   sockets welcomed per second of the phase. Every welcomed socket stays open
   (its room ticks and snapshots reach it) until the phase is over, as in a
   launch where everyone who got in stays; then all are closed.

Every client has a per-request timeout and the phases are bounded in count,
so a storm always ends. ``python -m load_tests joins --url ...`` runs one and
prints (or writes) its report; ``make bench`` runs it in its ``joins`` runs
(load_tests/bench.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import msgpack

from load_tests import wsclient
from load_tests.bot import ws_url
from load_tests.http import HttpError, NoResponse, request
from load_tests.metrics import proc_cpu_seconds
from load_tests.stats import percentile

TIMEOUT_S = 15.0
"""Per session request and per socket (connect through welcome)."""


def _ms(samples: list[float]) -> dict[str, float | None]:
    ordered = sorted(samples)
    return {"p50": percentile(ordered, 50), "p99": percentile(ordered, 99)}


class CpuProbe:
    """The server's CPU seconds (from /proc) spent between `start()` and `per(n)`."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.t0: float | None = None

    def start(self) -> None:
        self.t0 = proc_cpu_seconds(self.pid) if self.pid is not None else None

    def ms_per(self, n: int) -> float | None:
        """Server CPU milliseconds per item since `start()`; None if unknown or n is 0."""
        t1 = proc_cpu_seconds(self.pid) if self.pid is not None else None
        if self.t0 is None or t1 is None or n <= 0:
            return None
        return round((t1 - self.t0) * 1000 / n, 2)


async def guest_sessions(base: str, count: int, concurrency: int, errors: Counter[str],
                         cpu: CpuProbe) -> tuple[list[str] | None, dict[str, Any]]:
    """Phase 1: (tokens, or None when the server has no /api; the phase's figures)."""
    sem = asyncio.Semaphore(concurrency)
    tokens: list[str] = []
    latency: list[float] = []
    missing = False

    async def one(i: int) -> None:
        nonlocal missing
        async with sem:
            if missing:
                return
            t = time.monotonic()
            try:
                resp = await request("POST", base.rstrip("/") + "/api/session/guest",
                                     json_body={"name": f"j{i}"}, timeout=TIMEOUT_S)
            except NoResponse:
                missing = True
                return
            except (OSError, TimeoutError, HttpError) as exc:
                errors[f"session_{type(exc).__name__}"] += 1
                return
            if resp.status in (404, 405):
                missing = True
                return
            if resp.status != 201:
                errors[f"session_http_{resp.status}"] += 1
                return
            try:
                tokens.append(str(resp.json()["token"]))
            except (ValueError, KeyError, TypeError):
                errors["session_bad_body"] += 1
                return
            latency.append((time.monotonic() - t) * 1000)

    cpu.start()
    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.monotonic() - started
    cpu_ms = cpu.ms_per(len(tokens))
    if missing:
        return None, {"applies": False}
    return tokens, {"applies": True, "planned": count, "ok": len(tokens),
                    "elapsed_s": round(elapsed, 3),
                    "per_s": round(len(tokens) / elapsed, 1) if elapsed > 0 else None,
                    "latency_ms": _ms(latency), "server_cpu_ms_each": cpu_ms}


async def sockets_to_welcome(base: str, tokens: list[str | None], concurrency: int,
                             players_per_room: int, prefix: str, errors: Counter[str],
                             cpu: CpuProbe) -> dict[str, Any]:
    """Phase 2: one game socket per token, each until its first frame (welcome)."""
    sem = asyncio.Semaphore(concurrency)
    opened: list[wsclient.LeanWebSocket] = []
    latency: list[float] = []
    welcomed = 0

    async def one(i: int, token: str | None) -> None:
        nonlocal welcomed
        room = f"{prefix}-{i // players_per_room}"
        loop = asyncio.get_running_loop()
        first: asyncio.Future[bytes | str] = loop.create_future()

        def on_message(data: bytes | str) -> None:
            if not first.done():
                first.set_result(data)

        async with sem:
            t = time.monotonic()
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    ws = await wsclient.connect(ws_url(base, room, token, False), on_message)
                    opened.append(ws)
                    await asyncio.wait((first, ws.closed), return_when=asyncio.FIRST_COMPLETED)
            except wsclient.HandshakeError as exc:
                errors[f"handshake_{exc.status}"] += 1
                return
            except (OSError, TimeoutError) as exc:
                errors[f"socket_{type(exc).__name__}"] += 1
                return
            if not first.done():
                errors[f"close_{ws.close_code}"] += 1
                return
            data = first.result()
            try:
                frame = msgpack.unpackb(data) if isinstance(data, bytes) else None
            except ValueError:
                frame = None
            kind = frame.get("t") if isinstance(frame, dict) else None
            if kind != "welcome":
                code = frame.get("code") if isinstance(frame, dict) else None
                errors[f"first_frame_{code or kind or 'unreadable'}"] += 1
                return
            welcomed += 1
            latency.append((time.monotonic() - t) * 1000)

    cpu.start()
    started = time.monotonic()
    try:
        await asyncio.gather(*(one(i, tok) for i, tok in enumerate(tokens)))
        elapsed = time.monotonic() - started
        cpu_ms = cpu.ms_per(welcomed)
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    return {"planned": len(tokens), "welcomed": welcomed, "elapsed_s": round(elapsed, 3),
            "per_s": round(welcomed / elapsed, 1) if elapsed > 0 else None,
            "latency_ms": _ms(latency), "server_cpu_ms_each": cpu_ms}


async def join_storm(base: str, count: int = 400, concurrency: int = 50,
                     players_per_room: int = 20, prefix: str = "joins",
                     server_pid: int | None = None) -> dict[str, Any]:
    """Both phases against ``base``; the report (see the module docstring).

    With ``server_pid`` (a local server) each phase also reports the server's
    CPU milliseconds per session or socket (sockets: including the ticks of
    the rooms they fill, which run meanwhile).
    """
    if count < 1 or concurrency < 1 or players_per_room < 1:
        raise ValueError("count, concurrency and players_per_room must be at least 1")
    errors: Counter[str] = Counter()
    cpu = CpuProbe(server_pid)
    # Warm-up, not counted: a launch storm hits a server that is up (its first
    # request and socket import and build what later ones reuse).
    warm_tokens, _ = await guest_sessions(base, 1, 1, Counter(), CpuProbe(None))
    warm: list[str | None] = [warm_tokens[0] if warm_tokens else None]
    await sockets_to_welcome(base, warm, 1, 1, f"{prefix}-warm",
                             Counter(), CpuProbe(None))
    tokens, sessions = await guest_sessions(base, count, concurrency, errors, cpu)
    socket_tokens: list[str | None] = list(tokens) if tokens is not None else [None] * count
    sockets = await sockets_to_welcome(base, socket_tokens, concurrency, players_per_room,
                                       prefix, errors, cpu)
    return {"count": count, "concurrency": concurrency, "players_per_room": players_per_room,
            "sessions": sessions, "sockets": sockets, "errors": dict(errors)}
