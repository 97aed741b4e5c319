"""Bots that play like people, many per process, and measure what they get.

A :class:`Swarm` owns every bot of one process. Each bot has one task that
authenticates, picks a room, connects and reads frames; ONE ticker task per
process writes every bot's inputs (20 Hz, spread over ten 5 ms slots so the
server sees a steady stream rather than bursts), pings (once a second) and
chat lines. Sockets are `load_tests.wsclient.LeanWebSocket`s: frames are parsed
and handled inside the protocol's `data_received` (no task wake-up per frame)
and writes never block the ticker on one slow socket. That keeps 1,000 bots
on one core.

The core is game-independent: ``SwarmConfig.game`` names a game of
:mod:`engine.registry`; bots decode its snapshots through that game's codec
(full snapshot, then ``codec.apply`` on each delta) and ask the game's bot
policy (:mod:`load_tests.policies`, one module per game id) for each input's
fields, at the policy's input rate. The arena's bots wander, aim with a human
reaction time and fire in bursts, and a fraction (``track_fraction``) decode
the state and chase opponents; the paddle game's bots all decode the state
and move their paddle to meet the ball, with a reaction delay and errors.

Rooms of a game other than the registry's default (the arena) are asked for
explicitly: ``POST /api/rooms {"name", "game"}`` before connecting on a server
with ``/api`` (``409`` = the room exists already: fine),
``POST /api/matchmake {"game"}`` with ``matchmake``, and ``?game=<id>`` on
the socket URL (how the reference server picks a new room's game). A bot
whose ``welcome`` names another game, or names none when a non-default game
was asked for (a server that cannot host it), gives up
(``wrong_game_<id>`` / ``welcome_without_game``).

Measurement contract (see docs/load-testing.md): nothing counts before
:meth:`Swarm.open_window`; within the window ``[t0, t1]`` a bot counts every
snapshot it receives, the gap to its previous snapshot on the same socket, the
ack latency of every input it sent (time until the first snapshot with
``acks[my_id] >= seq``; acks may land up to ``ACK_GRACE_S`` after ``t1``) and
the round trip of every ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import msgpack

from engine.errors import EngineError
from engine.game import AnyGame
from engine.registry import DEFAULT_GAMES, get_game, load_games
from load_tests import wsclient
from load_tests.http import HttpError, NoResponse, request
from load_tests.policies import Policy, PolicyError, get_policy
from load_tests.stats import BotRecord, Measurements
from load_tests.wsclient import LeanWebSocket

ACK_GRACE_S = 0.5
"""Inputs sent before the window end may still be acknowledged this long after it."""
SLOTS = 10
"""The ticker's phases per input period."""
DECODED_KEPT = 256
"""Frames a swarm keeps decoded (a few per room: every bot of a room reads the same bytes)."""
MAX_SEND_BACKLOG = 64 * 1024
"""A bot whose socket has this much unsent data skips inputs (counted as ``send_backlog``)."""
MAX_PENDING_INPUTS = 1200
"""Unacknowledged inputs a bot remembers (60 s at 20 Hz); older ones are forgotten."""
NO_RETRY_CLOSES = frozenset({4001, 4003, 4004})
"""Close codes after which a bot gives up instead of reconnecting."""
MAX_FAILED_ATTEMPTS = 6
DEFAULT_GAME = "arena"


@functools.cache
def registered_games() -> dict[str, AnyGame]:
    """The games bots know: ``engine.registry.load_games(DEFAULT_GAMES)``, by id."""
    return load_games(DEFAULT_GAMES)


def resolve_game(game_id: str) -> tuple[AnyGame, Policy]:
    """The registry's definition and the bot policy of ``game_id``.

    Raises ``ValueError`` with a message for the user (unknown game, or a
    registered game without a bot policy).
    """
    games = registered_games()
    if game_id not in games:
        raise ValueError(f"unknown game {game_id[:32]!r}; the registry has {', '.join(games)}")
    try:
        definition = get_game(games, game_id)
        return definition, get_policy(definition.id)
    except EngineError as exc:
        raise ValueError(exc.message) from None
    except PolicyError as exc:
        raise ValueError(str(exc)) from None


K = TypeVar("K")
V = TypeVar("V")


def _keep(kept: dict[K, V], key: K, value: V) -> None:
    """Remember `value` under `key` in a swarm's cache of DECODED_KEPT (the oldest goes)."""
    if len(kept) >= DECODED_KEPT:
        del kept[next(iter(kept))]
    kept[key] = value


@dataclass
class SwarmConfig:
    """What the bots do. ``urls`` are base ``http(s)://host:port`` URLs; bot ``i``
    uses ``urls[i % len(urls)]``, or with ``sticky`` every bot of room ``n`` uses
    ``urls[n % len(urls)]`` (what a balancer hashing the room URL does). Player
    ``i`` joins room ``i // players_per_room`` (``<room_prefix>-<n>``) unless
    ``matchmake``; spectator ``j`` watches room ``j % rooms``.
    """

    urls: list[str]
    rooms: int = 1
    players_per_room: int = 20
    duration: float = 30.0
    matchmake: bool = False
    spectators: int = 0
    chatty: float = 0.0
    reconnect: float = 0.0
    room_prefix: str = "load"
    no_auth: bool = False
    track_fraction: float = 0.1
    connect_concurrency: int = 50
    ramp_timeout: float = 0.0
    """Seconds allowed for connecting every bot; 0 = ``20 + bots / 25``."""
    input_rate: float | None = None
    """Inputs per second per player; None = the game policy's rate."""
    seed: int = 1
    sticky: bool = False
    game: str = DEFAULT_GAME
    """A game id of :func:`registered_games`; bots play it and ask for rooms of it."""

    @property
    def total_bots(self) -> int:
        return self.rooms * self.players_per_room + self.spectators

    @property
    def effective_ramp_timeout(self) -> float:
        return self.ramp_timeout or 20.0 + self.total_bots / 25.0


def ws_url(base: str, room: str, token: str | None, spectator: bool,
           game: str | None = None) -> str:
    """The game socket URL for a base ``http(s)://`` URL (``game``: ask for a room of it)."""
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = []
    if token:
        query.append("token=" + quote(token, safe=""))
    if spectator:
        query.append("spectate=1")
    if game:
        query.append("game=" + quote(game, safe=""))
    q = ("?" + "&".join(query)) if query else ""
    return f"{scheme}://{parts.netloc}/ws/game/{room}/{q}"


class Bot:
    """One simulated person. Mutable state only; the :class:`Swarm` drives it."""

    def __init__(self, idx: int, cfg: SwarmConfig, rng: random.Random, policy: Policy) -> None:
        self.idx = idx
        self.name = f"bot{idx}"
        slot = idx // cfg.players_per_room if cfg.sticky else idx
        self.base = cfg.urls[slot % len(cfg.urls)]
        players = cfg.rooms * cfg.players_per_room
        self.spectator = idx >= players
        if self.spectator:
            self.room = f"{cfg.room_prefix}-{(idx - players) % max(1, cfg.rooms)}"
        else:
            self.room = f"{cfg.room_prefix}-{idx // cfg.players_per_room}"
        self.chatty = not self.spectator and rng.random() < cfg.chatty
        tracking = not self.spectator and rng.random() < cfg.track_fraction
        self.reconnect_after: float | None = None
        self.reconnect_at: float | None = None
        self.planned_close = False
        if not self.spectator and rng.random() < cfg.reconnect:
            # Reconnect once, somewhere in the middle of the window.
            self.reconnect_after = cfg.duration * rng.uniform(0.3, 0.6)
        self.record = BotRecord(spectator=self.spectator)
        self.token: str | None = None
        self.pid: int | None = None
        self.ws: LeanWebSocket | None = None
        self.welcomed = False
        self.settled = False
        self.seq = 0
        self.pending: deque[tuple[int, float]] = deque()
        self.ping_id = 0
        self.pings: dict[int, float] = {}
        self.last_snap: float | None = None
        self.last_tick: int | None = None
        self.state: dict[str, Any] | None = None
        self.player = policy.new_player(rng, tracking)
        """How this person plays (the game's policy)."""
        self.tracking = not self.spectator and self.player.wants_state
        """Whether the bot keeps the decoded state of its room."""
        self.next_chat = rng.uniform(3.0, 15.0)
        self.phase = idx % SLOTS


@dataclass
class Progress:
    """Live figures of one process, for the progress display."""

    planned: int = 0
    connected: int = 0
    measuring: bool = False
    snaps: int = 0
    errors: int = 0
    ack_p99: float | None = None
    rtt_p99: float | None = None
    elapsed: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)


class Swarm:
    """All bots of one process.

    Lifecycle: ``await ramp()`` (connect everyone, bounded by the ramp timeout),
    ``open_window(t0, t1)`` (monotonic times), ``await finish()`` (returns the
    :class:`Measurements` after ``t1`` + ack grace, with every socket closed and
    every task ended). ``abort()`` ends everything early.
    """

    def __init__(self, cfg: SwarmConfig, indices: Iterable[int]) -> None:
        self.cfg = cfg
        self.definition, self.policy = resolve_game(cfg.game)
        self.input_rate = cfg.input_rate or self.policy.input_rate
        # Rooms of the default game are what a bare room name gives everywhere;
        # any other game is asked for explicitly (the module docstring).
        self.ask_game = self.definition.id != next(iter(registered_games()))
        self.rng = random.Random(cfg.seed * 1_000_003 + min(indices, default=0))
        self.bots = [Bot(i, cfg, random.Random(cfg.seed * 7919 + i), self.policy)
                     for i in indices]
        self.m = Measurements(bots_planned=len(self.bots))
        self.m.bots = [b.record for b in self.bots]
        self.errors: Counter[str] = self.m.errors
        self.t0 = math.inf
        self.t1 = math.inf
        self.stopping = False
        self.started = time.monotonic()
        self._sem = asyncio.Semaphore(cfg.connect_concurrency)
        self._auth_missing = cfg.no_auth
        self._settled = 0
        self._all_settled = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ticker: asyncio.Task[None] | None = None
        self._closers: set[asyncio.Task[None]] = set()
        self._cpu0 = 0.0
        # Every server frame is a msgpack map; snapshots go through the game's codec.
        self._unpack = self.definition.codec.decode
        self._decoded: dict[bytes, dict[str, Any]] = {}
        """The last DECODED_KEPT frames, decoded: a room's snapshot reaches each of its
        bots here as the same bytes, decoded once (read-only: apply copies)."""
        self._applied: dict[bytes | str, tuple[dict[str, Any], dict[str, Any]]] = {}
        """The last DECODED_KEPT deltas applied, by frame: (the state it was applied to,
        the result). A room's tracking bots hold the same state and read the same
        delta: the first applies it, the others take its result (states are never
        mutated: apply copies)."""
        self._pack = msgpack.packb
        self._codec = self.definition.codec

    # -- lifecycle -------------------------------------------------------------

    async def ramp(self) -> None:
        """Start every bot and return once each has been welcomed or given up."""
        loop = asyncio.get_running_loop()
        ramp_start = time.monotonic()
        self.started = ramp_start
        if not self.bots:
            self._all_settled.set()
        for b in self.bots:
            self._tasks.append(loop.create_task(self._bot_main(b), name=b.name))
        self._ticker = loop.create_task(self._tick_loop(), name="ticker")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.cfg.effective_ramp_timeout):
                await self._all_settled.wait()
        self.m.connect_s = time.monotonic() - ramp_start
        self.m.bots_welcomed = sum(1 for b in self.bots if b.welcomed)

    def open_window(self, t0: float, t1: float) -> None:
        """Start measuring at monotonic ``t0``; the window ends at ``t1``."""
        self.t0, self.t1 = t0, t1
        self.m.t0, self.m.t1 = t0, t1
        self._cpu0 = time.process_time()
        for b in self.bots:
            if b.reconnect_after is not None:
                b.reconnect_at = t0 + b.reconnect_after

    async def finish(self) -> Measurements:
        """Wait for the window end (+ ack grace), stop every bot, return the samples."""
        end = self.t1 + ACK_GRACE_S
        delay = end - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.m.bot_cpu_s = time.process_time() - self._cpu0
        # What the server never answered inside the window (+ grace) has no
        # latency sample; count it so an overloaded server cannot look fast.
        t0, t1 = self.t0, self.t1
        unacked = sum(1 for b in self.bots for _, sent in b.pending if t0 <= sent <= t1)
        unanswered = sum(1 for b in self.bots for sent in b.pings.values() if t0 <= sent <= t1)
        if unacked:
            self.errors["unacked_inputs"] += unacked
        if unanswered:
            self.errors["unanswered_pings"] += unanswered
        await self.abort()
        self.m.bots_welcomed = sum(1 for b in self.bots if b.welcomed)
        return self.m

    async def abort(self) -> None:
        """Stop sending, close every socket (2 s close timeout) and end every task."""
        self.stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
        closing = [b.ws.close() for b in self.bots if b.ws is not None]
        if closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.gather(*closing, return_exceptions=True)
        tasks = [t for t in [*self._tasks, self._ticker, *self._closers] if t is not None]
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def progress(self) -> Progress:
        now = time.monotonic()
        measuring = self.t0 <= now
        ack = sorted(self.m.ack_ms[-3000:])
        rtt = sorted(self.m.rtt_ms[-1000:])
        return Progress(
            planned=len(self.bots),
            connected=sum(1 for b in self.bots if b.ws is not None),
            measuring=measuring,
            snaps=self.m.snaps_received,
            errors=sum(self.errors.values()),
            ack_p99=ack[int(0.99 * (len(ack) - 1))] if ack else None,
            rtt_p99=rtt[int(0.99 * (len(rtt) - 1))] if rtt else None,
            elapsed=(now - self.t0) if measuring else (now - self.started),
        )

    def _settle(self, bot: Bot) -> None:
        """Count ``bot`` as done with the ramp (welcomed or given up), once."""
        if bot.settled:
            return
        bot.settled = True
        self._settled += 1
        if self._settled >= len(self.bots):
            self._all_settled.set()

    # -- one bot ---------------------------------------------------------------

    async def _bot_main(self, bot: Bot) -> None:
        try:
            failures = 0
            if not await self._auth(bot):
                self.m.connect_failures += 1
                return
            await self._matchmake(bot)
            await self._create_room(bot)
            while not self.stopping:
                outcome = await self._session(bot)
                if self.stopping or outcome == "give_up":
                    return
                if outcome == "planned":
                    failures = 0
                    continue
                if outcome == "failed":
                    failures += 1
                    self.m.connect_failures += 1
                else:  # "closed" after a good session: start the count again
                    failures = 1
                if failures >= MAX_FAILED_ATTEMPTS:
                    self.errors["gave_up"] += 1
                    return
                backoff = min(8.0, 0.25 * 2**failures) * (0.5 + self.rng.random())
                await asyncio.sleep(backoff)
        finally:
            self._settle(bot)

    async def _auth(self, bot: Bot) -> bool:
        """Take a guest session unless the server has no /api; False = give up."""
        for attempt in range(4):
            if self._auth_missing or self.stopping:
                return not self.stopping
            try:
                async with self._sem:
                    resp = await request("POST", bot.base.rstrip("/") + "/api/session/guest",
                                         json_body={"name": bot.name}, timeout=15.0)
            except NoResponse:
                # A bare WebSocket server (the reference server) drops POSTs unanswered.
                self._auth_missing = True
                return True
            except (OSError, TimeoutError, HttpError) as exc:
                self.errors[f"http_{type(exc).__name__}"] += 1
            else:
                if resp.status in (200, 201):
                    try:
                        bot.token = str(resp.json()["token"])
                        return True
                    except (ValueError, KeyError, TypeError):
                        self.errors["http_bad_session_body"] += 1
                elif resp.status in (404, 405):
                    # No /api here (the reference server): play without a token.
                    self._auth_missing = True
                    return True
                else:
                    self.errors[f"http_{resp.status}"] += 1
            await asyncio.sleep(0.5 * 2**attempt * (0.5 + self.rng.random()))
        return False

    async def _matchmake(self, bot: Bot) -> None:
        if not self.cfg.matchmake or bot.spectator or bot.token is None:
            return
        body = {"game": self.definition.id} if self.ask_game else {}
        try:
            async with self._sem:
                resp = await request("POST", bot.base.rstrip("/") + "/api/matchmake",
                                     json_body=body, token=bot.token, timeout=15.0)
        except (OSError, TimeoutError, HttpError) as exc:
            self.errors[f"http_{type(exc).__name__}"] += 1
            return
        if resp.status == 200:
            try:
                bot.room = str(resp.json()["room"])
            except (ValueError, KeyError, TypeError):
                self.errors["http_bad_matchmake_body"] += 1
        else:
            self.errors[f"http_{resp.status}"] += 1

    async def _create_room(self, bot: Bot) -> None:
        """``POST /api/rooms {"name", "game"}`` for a non-default game (server with /api).

        201 (created) and 409 (the room exists) both mean the room is there;
        anything else is counted and the bot connects anyway (its ``welcome``
        tells whether it got the game it asked for).
        """
        if not self.ask_game or bot.token is None or (self.cfg.matchmake and not bot.spectator):
            return
        try:
            async with self._sem:
                resp = await request("POST", bot.base.rstrip("/") + "/api/rooms",
                                     json_body={"name": bot.room, "game": self.definition.id},
                                     token=bot.token, timeout=15.0)
        except (OSError, TimeoutError, HttpError) as exc:
            self.errors[f"http_{type(exc).__name__}"] += 1
            return
        if resp.status not in (200, 201, 409):
            self.errors[f"http_rooms_{resp.status}"] += 1

    async def _session(self, bot: Bot) -> str:
        """One connection: ``planned`` (own reconnect), ``closed``, ``failed`` or ``give_up``."""
        url = ws_url(bot.base, bot.room, bot.token, bot.spectator,
                     self.definition.id if self.ask_game else None)
        loop = asyncio.get_running_loop()
        first_frame: asyncio.Future[bytes | str] = loop.create_future()
        early: list[bytes | str] = []

        def before_welcome(data: bytes | str) -> None:
            if first_frame.done():
                early.append(data)
            else:
                first_frame.set_result(data)

        try:
            async with self._sem:
                ws = await wsclient.connect(url, before_welcome, timeout=15)
                try:
                    async with asyncio.timeout(15):
                        await asyncio.wait((first_frame, ws.closed),
                                           return_when=asyncio.FIRST_COMPLETED)
                except TimeoutError:
                    await ws.close()
                    raise
        except wsclient.HandshakeError as exc:
            self.errors[f"handshake_{exc.status}" if exc.status else "connect_closed"] += 1
            return "failed"
        except (OSError, TimeoutError) as exc:
            self.errors[f"connect_{type(exc).__name__}"] += 1
            return "failed"
        if not first_frame.done():
            code = ws.close_code if ws.close_code is not None else 1006
            self.errors[f"close_{code}"] += 1
            return "give_up" if code in NO_RETRY_CLOSES else "failed"
        msg = self._decode(first_frame.result())
        if msg is not None and msg.get("t") == "error":
            # Refused before the welcome (room_full, wrong_game, ...): the close
            # that follows says whether to try again.
            self.errors[f"error_{msg.get('code', '?')}"] += 1
            await asyncio.wait((ws.closed,), timeout=2.0)
            if ws.close_code in NO_RETRY_CLOSES:
                self.m.connect_failures += 1
                return "give_up"
            await ws.close()
            return "failed"
        if msg is None or msg.get("t") != "welcome":
            self.errors["no_welcome"] += 1
            await ws.close()
            return "failed"
        game = msg.get("game")
        if game != self.definition.id and (game is not None or self.ask_game):
            # Another game's room, or a server that cannot host the one asked for.
            self.errors["welcome_without_game" if game is None else f"wrong_game_{game}"] += 1
            self.m.connect_failures += 1
            await ws.close()
            return "give_up"
        bot.welcomed = True
        self._settle(bot)
        if not bot.spectator:
            bot.pid = msg.get("player_id")
        bot.record.snapshot_rate = float(msg.get("snapshot_rate") or msg.get("tick_rate") or 0)
        self.m.rooms.add(str(msg.get("room", bot.room)))
        bot.last_snap = None
        bot.state = None
        bot.pending.clear()
        bot.pings.clear()
        start = time.monotonic()
        bot.record.intervals.append((start, None))
        bot.ws = ws
        # From here every frame is handled as it is parsed, with no task per frame.
        ws.on_message = lambda data: self._on_frame(bot, data)
        for data in early:
            self._on_frame(bot, data)
        try:
            await ws.closed
        finally:
            bot.ws = None
            bot.record.intervals[-1] = (start, time.monotonic())
        if bot.planned_close:
            bot.planned_close = False
            return "planned"
        if self.stopping:
            return "closed"
        code = ws.close_code if ws.close_code is not None else 1006
        self.errors[f"close_{code}"] += 1
        return "give_up" if code in NO_RETRY_CLOSES else "closed"

    def _decode(self, data: bytes | str) -> dict[str, Any] | None:
        if isinstance(data, str):
            self.errors["text_frame"] += 1
            return None
        decoded = self._decoded
        msg = decoded.get(data)
        if msg is not None:
            return msg
        try:
            msg = self._unpack(data)
        except Exception:  # msgpack raises several types on bad input
            self.errors["bad_msgpack"] += 1
            return None
        if not isinstance(msg, dict):
            self.errors["bad_msgpack"] += 1
            return None
        _keep(decoded, data, msg)
        return msg

    def _apply(self, data: bytes | str, delta: dict[str, Any],
               state: dict[str, Any]) -> dict[str, Any] | None:
        """`state` with the delta `data` (decoded: `delta`) applied; None if it does not apply."""
        applied = self._applied
        done = applied.get(data)
        if done is not None and done[0] is state:
            return done[1]
        try:
            result: dict[str, Any] = self._codec.apply(delta, state)
        except (KeyError, TypeError, ValueError, IndexError):
            self.errors["delta_apply"] += 1
            return None
        _keep(applied, data, (state, result))
        return result

    def _on_frame(self, bot: Bot, data: bytes | str) -> None:
        """The hot path: one server frame."""
        now = time.monotonic()
        msg = self._decode(data)
        if msg is None:
            return
        kind = msg.get("t")
        if kind == "snap":
            in_window = self.t0 <= now <= self.t1
            if in_window:
                self.m.count_snapshot(now, len(data))
                if bot.last_snap is not None and bot.last_snap >= self.t0:
                    self.m.intervals_ms.append((now - bot.last_snap) * 1000.0)
            bot.last_snap = now
            bot.last_tick = msg.get("tick")
            pid = bot.pid
            if pid is not None and bot.pending:
                acked = msg["acks"].get(pid)
                if acked is not None:
                    pending = bot.pending
                    record = now <= self.t1 + ACK_GRACE_S
                    t0 = self.t0
                    ack_t, ack_ms = self.m.ack_t, self.m.ack_ms
                    while pending and pending[0][0] <= acked:
                        _, sent = pending.popleft()
                        if record and sent >= t0:
                            ack_t.append(sent - t0)
                            ack_ms.append((now - sent) * 1000.0)
            if bot.tracking:
                if msg.get("full"):
                    bot.state = msg
                elif bot.state is not None:
                    bot.state = self._apply(data, msg, bot.state)
        elif kind == "pong":
            pinged = bot.pings.pop(msg.get("id", -1), None)
            if pinged is not None and pinged >= self.t0 and now <= self.t1 + ACK_GRACE_S:
                self.m.rtt_t.append(pinged - self.t0)
                self.m.rtt_ms.append((now - pinged) * 1000.0)
        elif kind == "error":
            self.errors[f"error_{msg.get('code', '?')}"] += 1

    # -- the ticker ------------------------------------------------------------

    async def _tick_loop(self) -> None:
        """Write inputs, pings and chat for every connected bot, slot by slot."""
        period = 1.0 / self.input_rate
        slot_len = period / SLOTS
        per_second = max(1, round(self.input_rate))
        slots: list[list[Bot]] = [[] for _ in range(SLOTS)]
        for b in self.bots:
            slots[b.phase].append(b)
        deadline = time.monotonic()
        n = 0
        while not self.stopping:
            deadline += slot_len
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                deadline = time.monotonic()  # the process stalled: do not burst
                self.errors["bot_stall"] += 1
            slot = n % SLOTS
            round_no = n // SLOTS
            n += 1
            now = time.monotonic()
            for b in slots[slot]:
                ws = b.ws
                if ws is None or not ws.open:
                    continue
                if b.reconnect_at is not None and now >= b.reconnect_at:
                    # The planned mid-match reconnect: close; the bot's task reconnects.
                    b.reconnect_at = None
                    b.planned_close = True
                    task = asyncio.get_running_loop().create_task(ws.close())
                    self._closers.add(task)
                    task.add_done_callback(self._closers.discard)
                    continue
                self._send_for(b, ws, now, (round_no + b.idx) % per_second == 0)

    def _send_for(self, b: Bot, ws: LeanWebSocket, now: float, ping_due: bool) -> None:
        if ws.write_buffer_size() > MAX_SEND_BACKLOG:
            self.errors["send_backlog"] += 1
            return
        frames: list[bytes] = []
        if not b.spectator:
            fields = b.player.fields(now - self.started, self.rng, b.state, b.pid, b.last_tick)
            b.seq += 1
            frames.append(self._pack({"t": "input", "seq": b.seq, **fields}))
            if len(b.pending) >= MAX_PENDING_INPUTS:
                # The server is over a minute behind: forget the oldest input.
                b.pending.popleft()
                self.errors["ack_overflow"] += 1
            b.pending.append((b.seq, now))
            if b.chatty and now - self.started >= b.next_chat:
                b.next_chat = now - self.started + self.rng.uniform(5.0, 20.0)
                frames.append(self._pack({"t": "chat",
                                          "text": self.rng.choice(self.policy.chat_lines)}))
        if ping_due:
            b.ping_id += 1
            b.pings[b.ping_id] = now
            if len(b.pings) > 30:
                b.pings.pop(next(iter(b.pings)))
            frames.append(self._pack({"t": "ping", "id": b.ping_id}))
        for data in frames:
            ws.send(data)

