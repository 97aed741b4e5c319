"""The raw reference server: the yardstick the project is measured against.

``python -m load_tests.reference_server --host 127.0.0.1 --port P
[--tick-rate 20] [--drop-every N] [--ack-delay-ms D]``

A minimal single-process ``websockets`` server that speaks the game-socket
subset of the wire contract (``/ws/game/<room>/``: welcome, input, ping/pong,
chat, snapshots) and nothing else:

* no accounts: sockets are accepted without a token (a ``token`` query
  parameter is ignored) and players get ids 1, 2, 3, … in connection order;
  ``?name=`` sets a display name; there is no ``/api`` (POSTs get 405, other
  paths 404), so bots fall back to "no auth" and pick room names themselves;
* one engine :class:`engine.Match` per room, stepped by a task that sleeps
  until a drift-free monotonic deadline (``t0 + k / tick_rate``);
* every tick the snapshot is encoded ONCE per room: full for sockets that
  joined since the last tick, a delta (``codec.diff`` against the last
  snapshot sent) for the others, written with ``websockets.broadcast``;
* ``GET /metrics`` (Prometheus text: ``arena_tick_duration_seconds``
  histogram, ``process_cpu_seconds_total``) and ``GET /healthz``.

Test-stub knobs: ``--drop-every N`` skips sending every N-th tick's snapshot
(the delta chain stays valid because deltas are diffed against the last
snapshot actually sent); ``--ack-delay-ms D`` holds each input D ms before
handing it to the engine, so acks come back at least D ms late.

Once listening it prints ``READY <host>:<port>`` on stdout (``--port 0``
picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http
import itertools
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from engine import protocol
from engine.arena import GameConfig, Match, codec
from engine.errors import FrameError

_ROOM_PATH = re.compile(rf"^/ws/game/({protocol.ROOM_NAME_PATTERN})/?$")
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf)


@dataclass
class Options:
    """Reference-server settings (see the module docstring)."""

    host: str = "127.0.0.1"
    port: int = 0
    tick_rate: int = 20
    max_players: int = 20
    drop_every: int = 0
    ack_delay_ms: float = 0.0


@dataclass
class _TickHistogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(_BUCKETS))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.total += seconds
        self.n += 1
        for i, b in enumerate(_BUCKETS):
            if seconds <= b:
                self.counts[i] += 1
                break

    def exposition(self) -> str:
        name = "arena_tick_duration_seconds"
        lines = [f"# HELP {name} Time spent in one room tick.", f"# TYPE {name} histogram"]
        cum = 0
        for b, c in zip(_BUCKETS, self.counts, strict=True):
            cum += c
            le = "+Inf" if math.isinf(b) else repr(b)
            lines.append(f'{name}_bucket{{le="{le}"}} {cum}')
        lines += [f"{name}_count {self.n}", f"{name}_sum {self.total}"]
        return "\n".join(lines) + "\n"


class Room:
    """One match, its sockets and its tick task."""

    def __init__(self, server: ReferenceServer, name: str) -> None:
        self.server = server
        self.name = name
        opts = server.options
        self.match = Match(GameConfig(tick_rate=opts.tick_rate, max_players=opts.max_players),
                           seed=hash(name) & 0xFFFF, record_inputs=False)
        self.sockets: set[ServerConnection] = set()
        self.needs_full: set[ServerConnection] = set()
        self.last_sent: dict[str, Any] | None = None
        self.delayed: deque[tuple[float, int, Any]] = deque()
        self.task: asyncio.Task[None] | None = None

    def join(self, ws: ServerConnection) -> None:
        self.sockets.add(ws)
        self.needs_full.add(ws)
        if self.task is None or self.task.done():
            loop = asyncio.get_running_loop()
            self.task = loop.create_task(self._run(), name=f"room:{self.name}")

    def leave(self, ws: ServerConnection, pid: int | None) -> None:
        self.sockets.discard(ws)
        self.needs_full.discard(ws)
        if pid is not None:
            self.match.remove_player(pid)

    async def _run(self) -> None:
        period = 1.0 / self.server.options.tick_rate
        deadline = time.monotonic()
        while self.sockets:
            deadline += period
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -5 * period:
                # Far behind (machine stalled): resynchronise instead of bursting.
                deadline = time.monotonic()
                self.server.overruns += 1
            started = time.perf_counter()
            self._tick()
            self.server.ticks.observe(time.perf_counter() - started)
        self.server.rooms.pop(self.name, None)

    def _tick(self) -> None:
        now = time.monotonic()
        delayed = self.delayed
        while delayed and delayed[0][0] <= now:
            _, pid, frame = delayed.popleft()
            self.match.submit(pid, frame)
        self.match.step()
        full = self.match.snapshot()
        drop = self.server.options.drop_every
        if drop and full["tick"] % drop == 0:
            return
        fresh = self.needs_full
        if self.last_sent is not None and len(fresh) < len(self.sockets):
            delta = codec.encode(codec.diff(self.last_sent, full))
            broadcast([ws for ws in self.sockets if ws not in fresh], delta)
        if fresh:
            broadcast(list(fresh), codec.encode(full))
            self.needs_full = set()
        self.last_sent = full


class ReferenceServer:
    """The server; use as ``async with ReferenceServer(Options(...)) as srv``.

    ``srv.port`` is the bound port once entered.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.rooms: dict[str, Room] = {}
        self.ticks = _TickHistogram()
        self.overruns = 0
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self.port = options.port

    async def __aenter__(self) -> ReferenceServer:
        self._server = await serve(
            self._handle,
            self.options.host,
            self.options.port,
            process_request=self._process_request,
            compression=None,
            max_size=16 * 1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for room in list(self.rooms.values()):
            if room.task is not None:
                room.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await room.task

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    def _process_request(self, ws: ServerConnection, req: Request) -> Response | None:
        path = urlsplit(req.path).path
        if path == "/metrics":
            text = self.ticks.exposition() + (
                "# TYPE process_cpu_seconds_total counter\n"
                f"process_cpu_seconds_total {time.process_time()}\n"
            )
            return ws.respond(http.HTTPStatus.OK, text)
        if path == "/healthz":
            return ws.respond(http.HTTPStatus.OK, "ok\n")
        if _ROOM_PATH.match(path):
            return None
        resp = ws.respond(http.HTTPStatus.NOT_FOUND,
                          '{"error": {"code": "not_found", "message": "no such path"}}\n')
        resp.headers = Headers({**dict(resp.headers), "Content-Type": "application/json"})
        return resp

    async def _handle(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path if ws.request else "/")
        m = _ROOM_PATH.match(parts.path)
        if m is None:  # pragma: no cover - filtered by _process_request
            await ws.close(4004, "no such room path")
            return
        query = parse_qs(parts.query)
        spectator = query.get("spectate", ["0"])[0] in ("1", "true")
        room_name = m.group(1)
        room = self.rooms.get(room_name)
        if room is None:
            room = self.rooms[room_name] = Room(self, room_name)
        pid: int | None = None
        uid = next(self._ids)
        name = query.get("name", [f"guest{uid}"])[0][:24]
        if not spectator:
            try:
                room.match.add_player(uid, name)
            except Exception as exc:  # the engine refuses (room full, …)
                await ws.send(protocol.error("room_full", str(exc)))
                await ws.close(4003, "room full")
                return
            pid = uid
        try:
            await ws.send(protocol.welcome(uid, room_name, self.options.tick_rate,
                                           self.options.tick_rate, spectator))
            room.join(ws)
            await self._receive(ws, room, pid, name)
        except ConnectionClosed:
            pass
        finally:
            room.leave(ws, pid)

    async def _receive(self, ws: ServerConnection, room: Room, pid: int | None, name: str) -> None:
        delay = self.options.ack_delay_ms / 1000.0
        async for raw in ws:
            if isinstance(raw, str):
                await ws.send(protocol.error("bad_frame", "frames must be binary msgpack"))
                continue
            try:
                frame = protocol.parse_client_frame(raw)
            except FrameError as exc:
                await ws.send(protocol.error(exc.code, exc.message))
                continue
            if isinstance(frame, protocol.InputFrame):
                if pid is None:
                    continue
                if delay:
                    room.delayed.append((time.monotonic() + delay, pid, frame))
                else:
                    room.match.submit(pid, frame)
            elif isinstance(frame, protocol.PingFrame):
                await ws.send(protocol.pong(frame.id))
            elif isinstance(frame, protocol.ChatFrame):
                broadcast(room.sockets, _chat(pid or 0, name, frame.text))


_chat_ids = itertools.count(1)


def _chat(pid: int, name: str, text: str) -> bytes:
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return protocol.chat(next(_chat_ids), pid, name, text, ts)


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m load_tests.reference_server",
                                description="Raw websockets reference game server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--tick-rate", type=int, default=20)
    p.add_argument("--max-players", type=int, default=20)
    p.add_argument("--drop-every", type=int, default=0, metavar="N",
                   help="do not send every N-th tick's snapshot (test stub)")
    p.add_argument("--ack-delay-ms", type=float, default=0.0, metavar="D",
                   help="apply inputs D ms after they arrive (test stub)")
    a = p.parse_args(argv)
    return Options(a.host, a.port, a.tick_rate, a.max_players, a.drop_every, a.ack_delay_ms)


async def _amain(opts: Options) -> None:
    async with ReferenceServer(opts) as srv:
        print(f"READY {opts.host}:{srv.port}", flush=True)
        await srv.serve_forever()


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    # The yardstick gets the project server's GC tuning (gameserver/asgi.py):
    # a process-level setting any Python server can use, so ratios stay fair.
    gc.set_threshold(20_000, 20, 20)
    gc.freeze()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_amain(opts))


if __name__ == "__main__":
    main()
