"""The raw reference server: the yardstick the project is measured against.

``python -m load_tests.reference_server --host 127.0.0.1 --port P
[--game ID] [--games PATH,...] [--tick-rate N] [--snapshot-rate N]
[--max-players N] [--drop-every N] [--ack-delay-ms D]``

A minimal single-process ``websockets`` server that speaks the game-socket
subset of the wire contract (``/ws/game/<room>/``: welcome, input, ping/pong,
chat, snapshots) for any game of :mod:`engine.registry`, through the Game API
only (it names no concrete game), and nothing else:

* no accounts: sockets are accepted without a token (a ``token`` query
  parameter is ignored) and players get ids 1, 2, 3, … in connection order;
  ``?name=`` sets a display name; there is no ``/api`` (POSTs get 405, other
  paths 404), so bots fall back to "no auth" and pick room names themselves;
* a room plays one game: the one its first socket asks for with
  ``?game=<id>``, else ``--game`` (default: the registry's first, the arena).
  A later socket asking for another game gets ``error`` ``wrong_game`` and
  close 4003; an unknown id ``error`` ``unknown_game`` and close 4004. The
  ``welcome`` names the room's ``game`` and its ``tick_rate`` and
  ``snapshot_rate``;
* one match per room (``definition.create(config, seed, False)``), stepped by
  a task that sleeps until a drift-free monotonic deadline
  (``t0 + k / tick_rate``);
* every ``tick_rate / snapshot_rate`` ticks the snapshot is encoded ONCE per
  room with the game's codec: full for sockets that joined since the last
  snapshot, a delta (``codec.diff`` against the last snapshot sent) for the
  others, written with ``websockets.broadcast``;
* ``GET /metrics`` (Prometheus text: ``arena_tick_duration_seconds``
  histogram, ``process_cpu_seconds_total``) and ``GET /healthz``.

Configs: each game's default config, with ``--tick-rate``, ``--snapshot-rate``
and ``--max-players`` applied to every game that accepts them (``--tick-rate``
alone keeps the game's ticks per snapshot when it divides); a game whose
config refuses them is not offered (a note on stderr; exit 2 if it is the
``--game``).

Test-stub knobs: ``--drop-every N`` skips sending every N-th snapshot
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
import sys
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
from engine.errors import EngineError, FrameError
from engine.game import AnyGame
from engine.registry import DEFAULT_GAMES, check_config, get_game, load_games

_ROOM_PATH = re.compile(rf"^/ws/game/({protocol.ROOM_NAME_PATTERN})/?$")
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf)


@dataclass
class Options:
    """Reference-server settings (see the module docstring)."""

    host: str = "127.0.0.1"
    port: int = 0
    tick_rate: int | None = None
    """None: each game's own; else every game ticks at this rate."""
    max_players: int | None = None
    drop_every: int = 0
    ack_delay_ms: float = 0.0
    game: str | None = None
    """The game of rooms whose first socket names none (None: the registry's first)."""
    games: tuple[str, ...] = DEFAULT_GAMES
    """Dotted paths for :func:`engine.registry.load_games`."""
    snapshot_rate: int | None = None


@dataclass(frozen=True)
class Hosted:
    """A game this server offers: its definition and the config its rooms use."""

    definition: AnyGame
    config: Any

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def ticks_per_snapshot(self) -> int:
        return int(self.config.tick_rate) // int(self.config.snapshot_rate)


def hosted_games(options: Options) -> tuple[dict[str, Hosted], dict[str, str]]:
    """``({id: Hosted}, {id: why not offered})`` for ``options.games`` with the overrides."""
    offered: dict[str, Hosted] = {}
    refused: dict[str, str] = {}
    for gid, definition in load_games(options.games).items():
        base = definition.default_config()
        overrides: dict[str, Any] = {}
        if options.tick_rate is not None:
            overrides["tick_rate"] = options.tick_rate
            ratio = base.tick_rate // base.snapshot_rate
            overrides["snapshot_rate"] = (options.tick_rate // ratio
                                          if options.tick_rate % ratio == 0 else
                                          options.tick_rate)
        if options.snapshot_rate is not None:
            overrides["snapshot_rate"] = options.snapshot_rate
        if options.max_players is not None:
            overrides["max_players"] = options.max_players
        try:
            config = definition.configure(overrides)
            check_config(config, gid)
        except EngineError as exc:
            refused[gid] = exc.message
            continue
        offered[gid] = Hosted(definition, config)
    return offered, refused


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

    def __init__(self, server: ReferenceServer, name: str, game: Hosted) -> None:
        self.server = server
        self.name = name
        self.game = game
        self.definition = game.definition
        self.codec = game.definition.codec
        self.tick_rate = int(game.config.tick_rate)
        self.every = game.ticks_per_snapshot
        self.match = game.definition.create(game.config, hash(name) & 0xFFFF, False)
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
        period = 1.0 / self.tick_rate
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
        tick = self.match.tick
        if tick % self.every:
            return  # not a snapshot tick
        drop = self.server.options.drop_every
        if drop and (tick // self.every) % drop == 0:
            return
        full = self.match.snapshot()
        codec = self.codec
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
        self.games, self.refused = hosted_games(options)
        default = options.game or next(iter(load_games(options.games)))
        if default not in self.games:
            why = self.refused.get(default) or get_game_message(self.games, default)
            raise ValueError(f"--game {default}: {why}")
        self.default_game = self.games[default]
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
        asked = query.get("game", [None])[0]
        game = self.default_game
        if asked is not None:
            hosted = self.games.get(asked)
            if hosted is None:
                await ws.send(protocol.error("unknown_game",
                                             get_game_message(self.games, asked)))
                await ws.close(4004, "unknown game")
                return
            game = hosted
        room = self.rooms.get(room_name)
        if room is None:
            room = self.rooms[room_name] = Room(self, room_name, game)
        elif asked is not None and room.game.id != asked:
            await ws.send(protocol.error("wrong_game",
                                         f"room {room_name!r} plays {room.game.id}, not {asked}"))
            await ws.close(4003, "wrong game")
            return
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
            config = room.game.config
            await ws.send(protocol.encode({
                "t": "welcome", "player_id": uid, "room": room_name,
                "tick_rate": config.tick_rate, "snapshot_rate": config.snapshot_rate,
                "spectator": spectator, "server": "", "game": room.game.id,
            }))
            room.join(ws)
            await self._receive(ws, room, pid, name)
        except ConnectionClosed:
            pass
        finally:
            room.leave(ws, pid)

    async def _receive(self, ws: ServerConnection, room: Room, pid: int | None, name: str) -> None:
        delay = self.options.ack_delay_ms / 1000.0
        parse = room.definition.parse_frame
        async for raw in ws:
            if isinstance(raw, str):
                await ws.send(protocol.error("bad_frame", "frames must be binary msgpack"))
                continue
            try:
                frame = parse(raw)
            except FrameError as exc:
                await ws.send(protocol.error(exc.code, exc.message))
                continue
            if isinstance(frame, protocol.InputBase):
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


def get_game_message(games: dict[str, Hosted], game_id: str) -> str:
    """The registry's ``unknown_game`` message for ``game_id`` among ``games``."""
    try:
        get_game({gid: h.definition for gid, h in games.items()}, game_id)
    except EngineError as exc:
        return exc.message
    return f"game {game_id!r} is not offered"


def _chat(pid: int, name: str, text: str) -> bytes:
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return protocol.chat(next(_chat_ids), pid, name, text, ts)


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m load_tests.reference_server",
                                description="Raw websockets reference game server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--game", default=None, metavar="ID",
                   help="the game of rooms whose first socket names none (?game=<id>); "
                        "default: the first of --games (the arena)")
    p.add_argument("--games", default=",".join(DEFAULT_GAMES), metavar="PATH,...",
                   help="dotted paths of the games to offer (engine.registry)")
    p.add_argument("--tick-rate", type=int, default=None,
                   help="override every game's tick rate (default: each game's own)")
    p.add_argument("--snapshot-rate", type=int, default=None,
                   help="override every game's snapshot rate")
    p.add_argument("--max-players", type=int, default=None,
                   help="override every game's max players")
    p.add_argument("--drop-every", type=int, default=0, metavar="N",
                   help="do not send every N-th snapshot (test stub)")
    p.add_argument("--ack-delay-ms", type=float, default=0.0, metavar="D",
                   help="apply inputs D ms after they arrive (test stub)")
    a = p.parse_args(argv)
    games = tuple(x.strip() for x in a.games.split(",") if x.strip())
    return Options(a.host, a.port, a.tick_rate, a.max_players, a.drop_every, a.ack_delay_ms,
                   a.game, games, a.snapshot_rate)


async def _amain(srv: ReferenceServer) -> None:
    async with srv:
        print(f"READY {srv.options.host}:{srv.port}", flush=True)
        await srv.serve_forever()


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    try:
        srv = ReferenceServer(opts)  # loads and configures the games
    except (EngineError, ValueError) as exc:
        print(f"reference_server: error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    for gid, why in srv.refused.items():
        print(f"reference_server: not offering {gid}: {why}", file=sys.stderr)
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
        runner(_amain(srv))


if __name__ == "__main__":
    main()
