"""``python -m load_tests capacity``: measure this machine, then model 10k and 100k players.

Measurements (each recorded even when another fails; nothing here is typed in
by hand, so a re-run after a speed change re-measures everything):

* **CPU per player-second**: one daphne process (the bench's
  :func:`load_tests.bench.servers`), ``rooms × players_per_room`` bots at
  20 Hz (the bench's :func:`load_tests.runner.run`, in this process), the
  server's ``/proc`` CPU over the measurement window / (players × seconds).
* **Memory**: the server's RSS (``/proc/<pid>/status`` ``VmRSS``) after one
  warm-up bot has joined and left (imports and first-use caches land in the
  base), and late in the window of two runs of different shapes (many
  players in few rooms, few players in many rooms), each on a fresh server;
  per room and per player solve ``RSS − base = rooms·r + players·p``.
* **Bytes per player-second each way**: the kernel's TCP counters of the
  server's game sockets (``ss -ti``: ``bytes_acked`` out, ``bytes_received``
  in, ``segs_out``/``segs_in``) at the start and near the end of the window:
  WebSocket frames and their headers as the server wrote and read them, all
  message kinds (snapshots, acks, pongs, inputs, pings). On the wire add
  :data:`HEADER_BYTES` per segment (IPv4 + TCP with timestamps).
* **Redis operations per room-tick**: two daphne processes on a private
  ``redis-server`` (the bench's :func:`load_tests.bench.redis_for_bench`),
  sticky routing (every room's players on one process), ``INFO commandstats``
  before and after, split into the channel layer's pub/sub commands (spread
  over shards) and the rest (leases, checkpoints, process keys: on the first
  ``REDIS_URL`` only, docs/scaling.md). Commands run inside Lua scripts count
  as well as the ``EVALSHA`` itself: each is work comparable to a benchmark
  ``SET``.
* **Redis ops per second per core**: ``redis-benchmark`` (``SET``, ``GET``,
  ``PUBLISH``, 50 clients, no pipelining) against the same private server;
  the slowest of the three. Without ``redis-benchmark``,
  :data:`REDIS_OPS_FALLBACK`.
* **Database writes per join and per chat message**: :mod:`load_tests.db_writes`
  (statements counted in-process by a Django execute wrapper) on a fresh
  migrated SQLite file, or on ``--database-url`` (PostgreSQL).

The model (:func:`model`) is pure arithmetic on those figures and the stated
:class:`Assumptions`; the check (:func:`check`) predicts the two-process Redis
run's CPU from the one-process figure. Results go to ``bench/capacity.json``
and the generated blocks of ``docs/capacity.md`` (between
``<!-- capacity:<name>:start -->`` and ``<!-- capacity:<name>:end -->``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from load_tests.bench import ROOT, machine, project_env, redis_for_bench, servers, update_docs
from load_tests.bot import Progress, SwarmConfig
from load_tests.runner import RunConfig, run

TARGETS = (10_000, 100_000)
HEADER_BYTES = 52
"""IPv4 (20) + TCP (20) + the timestamp option (12) per segment."""
REDIS_OPS_FALLBACK = 100_000.0
REDIS_OPS_FALLBACK_SOURCE = (
    "not measured (no redis-benchmark): 100,000 ops/s, the order of magnitude the Redis "
    "benchmark page (redis.io, \"Redis benchmark\") reports for one core without pipelining")
LAYER_COMMANDS = frozenset({"publish", "spublish", "subscribe", "unsubscribe", "psubscribe",
                            "punsubscribe", "ssubscribe", "sunsubscribe"})
"""The channel layer's commands (channels-redis' PubSub layer); the rest is leases & co."""
IGNORED_COMMANDS = frozenset({"info", "hello", "client|setinfo"})
"""Our own probes."""
MARKERS = "capacity"
STEADY_DELIVERY = 0.95


@dataclass(frozen=True)
class Sizes:
    """How big the measurement runs are."""

    rooms: int = 10
    players_per_room: int = 20
    duration: float = 10.0
    shape_rooms: int = 40
    """The second memory point: ``shape_rooms`` rooms of ``shape_players`` players."""
    shape_players: int = 2
    db_players: int = 10
    db_messages: int = 20

    @property
    def players(self) -> int:
        return self.rooms * self.players_per_room


QUICK = Sizes(rooms=4, players_per_room=10, duration=5.0, shape_rooms=16, shape_players=2,
              db_players=4, db_messages=5)


@dataclass(frozen=True)
class Assumptions:
    """What the model takes as given (each is printed beside the tables)."""

    room_size: int = 20
    """Players per room in the modelled deployment (the measured runs seat 20)."""
    tick_rate: int = 20
    cpu_utilisation: float = 0.7
    """Plan each process's core at this fraction: headroom for bursts and GC."""
    ram_per_process_gib: float = 4.0
    """Memory one process may use (a typical 4 GiB per vCPU)."""
    redis_utilisation: float = 0.5
    """Plan each Redis core at this fraction: the lease renewals must never starve."""
    db_writes_per_s: float = 5_000.0
    """Write statements per second one PostgreSQL primary takes (an assumed planning
    figure, not measured here: single-row writes with synchronous commit on SSD)."""
    db_utilisation: float = 0.7
    session_interval_s: float = 1800.0
    """Each player starts a session (a guest session and a lobby socket) this often."""
    join_interval_s: float = 200.0
    """Each player joins a room this often (a 180 s match, its countdown and the lobby)."""
    chat_interval_s: float = 60.0
    """Each player sends a chat message this often."""
    nic_gbit_s: float = 10.0
    """One host's network link."""
    nic_utilisation: float = 0.7


# -- the model (pure) ------------------------------------------------------------------

FIGURE_KEYS = (
    "cpu_s_per_player_s", "rss_base_bytes", "rss_per_room_bytes", "rss_per_player_bytes",
    "bytes_out_per_player_s", "bytes_in_per_player_s", "redis_layer_ops_per_room_tick",
    "redis_other_ops_per_room_tick", "redis_ops_per_s_per_core", "db_writes_per_session",
    "db_writes_per_join", "db_writes_per_chat",
)
"""The measured figures the model reads; any may be ``None`` (not measured)."""

RESOURCES = {
    "cpu": "process CPU (one core each)",
    "memory": "process memory",
    "redis_first": "first Redis (leases, checkpoints: not sharded)",
    "redis_shard": "Redis shard (channel layer)",
    "database": "database primary (writes)",
    "network": "host network link",
}


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b <= 0:
        return math.inf
    return a / b


def db_writes_per_player_s(fig: dict[str, Any], asm: Assumptions) -> float | None:
    """Database writes per player-second at the assumed session, join and chat rates."""
    ws, wj, wc = (fig.get("db_writes_per_session"), fig.get("db_writes_per_join"),
                  fig.get("db_writes_per_chat"))
    if ws is None or wj is None or wc is None:
        return None
    return float(ws / asm.session_interval_s + wj / asm.join_interval_s
                 + wc / asm.chat_interval_s)


def players_per_unit(fig: dict[str, Any], asm: Assumptions) -> dict[str, float | None]:
    """How many players one unit of each resource carries at its planned utilisation.

    ``inf`` when the players cost that resource nothing, ``None`` when the
    figures it needs were not measured.
    """
    ppr = asm.room_size
    rss_player = None
    if fig.get("rss_per_player_bytes") is not None and fig.get("rss_per_room_bytes") is not None:
        rss_player = fig["rss_per_player_bytes"] + fig["rss_per_room_bytes"] / ppr
    ram = asm.ram_per_process_gib * 2**30
    mem = None if fig.get("rss_base_bytes") is None else max(0.0, ram - fig["rss_base_bytes"])
    redis_cap = None
    if fig.get("redis_ops_per_s_per_core") is not None:
        redis_cap = fig["redis_ops_per_s_per_core"] * asm.redis_utilisation

    def per_player_s(per_room_tick: float | None) -> float | None:
        return None if per_room_tick is None else per_room_tick * asm.tick_rate / ppr

    writes = db_writes_per_player_s(fig, asm)
    traffic = None
    if fig.get("bytes_out_per_player_s") is not None:
        traffic = max(fig["bytes_out_per_player_s"], fig.get("bytes_in_per_player_s") or 0.0)
    return {
        "cpu": _div(asm.cpu_utilisation, fig.get("cpu_s_per_player_s")),
        "memory": _div(mem, rss_player),
        "redis_first": _div(redis_cap, per_player_s(fig.get("redis_other_ops_per_room_tick"))),
        "redis_shard": _div(redis_cap, per_player_s(fig.get("redis_layer_ops_per_room_tick"))),
        "database": _div(asm.db_writes_per_s * asm.db_utilisation, writes),
        "network": _div(asm.nic_gbit_s * 1e9 / 8 * asm.nic_utilisation, traffic),
    }


def _units(players: int, per_unit: float | None) -> int | None:
    if per_unit is None:
        return None
    if math.isinf(per_unit):
        return 1
    if per_unit <= 0:
        return None
    return max(1, math.ceil(players / per_unit))


def needs(fig: dict[str, Any], asm: Assumptions, players: int) -> dict[str, Any]:
    """What ``players`` concurrent players need (sticky routing: one process per room)."""
    ppu = players_per_unit(fig, asm)
    rooms = math.ceil(players / asm.room_size)
    by_cpu, by_mem = _units(players, ppu["cpu"]), _units(players, ppu["memory"])
    processes = max((n for n in (by_cpu, by_mem) if n is not None), default=None)
    out: dict[str, Any] = {"players": players, "rooms": rooms, "processes": processes,
                           "processes_by_cpu": by_cpu, "processes_by_memory": by_mem}
    if processes is not None and fig.get("cpu_s_per_player_s") is not None:
        out["cpu_cores_busy"] = players * fig["cpu_s_per_player_s"]
    base, per_room, per_player = (fig.get("rss_base_bytes"), fig.get("rss_per_room_bytes"),
                                  fig.get("rss_per_player_bytes"))
    if processes is not None and base is not None and per_room is not None \
            and per_player is not None:
        out["memory_gib"] = (processes * base + rooms * per_room + players * per_player) / 2**30
    for way in ("out", "in"):
        v = fig.get(f"bytes_{way}_per_player_s")
        out[f"gbit_s_{way}"] = None if v is None else players * v * 8 / 1e9
    out["network_links"] = _units(players, ppu["network"])
    # Redis: the first URL carries every lease/checkpoint op plus its share of the layer.
    cap = fig.get("redis_ops_per_s_per_core")
    other_ops = fig.get("redis_other_ops_per_room_tick")
    layer_ops = fig.get("redis_layer_ops_per_room_tick")
    out["redis_ops_s"] = None
    out["redis_shards"] = None
    out["redis_first_load"] = None
    if cap is not None and other_ops is not None and layer_ops is not None:
        budget = cap * asm.redis_utilisation
        first = rooms * asm.tick_rate * other_ops
        layer = rooms * asm.tick_rate * layer_ops
        out["redis_ops_s"] = first + layer
        out["redis_first_load"] = first / budget
        if first < budget:
            out["redis_shards"] = max(1, math.ceil(layer / (budget - first))) if layer else 1
    writes = db_writes_per_player_s(fig, asm)
    out["db_writes_s"] = None if writes is None else players * writes
    out["db_primary_load"] = None
    out["db_sessions_s"] = players / asm.session_interval_s
    out["db_joins_s"] = players / asm.join_interval_s
    out["db_chats_s"] = players / asm.chat_interval_s
    if out["db_writes_s"] is not None:
        out["db_primary_load"] = out["db_writes_s"] / (asm.db_writes_per_s * asm.db_utilisation)
    return out


def bottlenecks(fig: dict[str, Any], asm: Assumptions) -> list[tuple[str, float]]:
    """Measured resources, the one that saturates first (fewest players per unit) first."""
    ppu = players_per_unit(fig, asm)
    ranked = [(k, v) for k, v in ppu.items() if v is not None]
    return sorted(ranked, key=lambda kv: kv[1])


def model(fig: dict[str, Any], asm: Assumptions,
          targets: tuple[int, ...] = TARGETS) -> dict[str, Any]:
    """Players per unit, the ranking, and what each target needs."""
    ranked = bottlenecks(fig, asm)
    shared = [kv for kv in ranked if kv[0] in ("redis_first", "redis_shard", "database")]
    return {
        "players_per_unit": players_per_unit(fig, asm),
        "ranking": [k for k, _ in ranked],
        "first_bottleneck": ranked[0][0] if ranked else None,
        "first_shared_bottleneck": shared[0][0] if shared else None,
        "targets": {str(n): needs(fig, asm, n) for n in targets},
    }


def finite(value: Any) -> Any:
    """``value`` with every infinite float replaced by ``None`` (strict JSON)."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def check(fig: dict[str, Any], measured: dict[str, Any] | None) -> dict[str, Any] | None:
    """Predict the CPU of the measured two-process run from the one-process figure."""
    if not measured or fig.get("cpu_s_per_player_s") is None:
        return None
    if measured.get("cpu_s") is None or not measured.get("players"):
        return None
    predicted = fig["cpu_s_per_player_s"] * measured["players"] * measured["duration_s"]
    return {**measured, "predicted_cpu_s": predicted,
            "error": measured["cpu_s"] / predicted - 1.0 if predicted else None}


def fit_memory(points: list[tuple[int, int, float]]) -> tuple[float | None, float | None]:
    """Per room and per player bytes from ``(rooms, players, RSS growth)`` points.

    Least squares through the origin; a negative coefficient (noise) is set
    to 0 and the other refitted alone. ``(None, None)`` with fewer than two
    points or points of one shape.
    """
    if len(points) < 2:
        return None, None
    srr = sum(r * r for r, _, _ in points)
    spp = sum(p * p for _, p, _ in points)
    srp = sum(r * p for r, p, _ in points)
    sry = sum(r * y for r, _, y in points)
    spy = sum(p * y for _, p, y in points)
    det = srr * spp - srp * srp
    if det <= 1e-9 * max(1.0, srr * spp):
        return None, None
    per_room = (sry * spp - spy * srp) / det
    per_player = (spy * srr - sry * srp) / det
    if per_room < 0:
        return 0.0, max(0.0, spy / spp)
    if per_player < 0:
        return max(0.0, sry / srr), 0.0
    return per_room, per_player


# -- measuring ---------------------------------------------------------------------------


def rss_bytes(pid: int) -> int | None:
    """``VmRSS`` of ``pid`` in bytes; ``None`` if unreadable."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


_TCP_FIELDS = ("bytes_acked", "bytes_received", "segs_out", "segs_in")


def parse_ss(text: str) -> dict[str, int]:
    """Sum the TCP counters of every socket in ``ss -tin`` output."""
    out = dict.fromkeys(_TCP_FIELDS, 0)
    for name in _TCP_FIELDS:
        for m in re.finditer(rf"\b{name}:(\d+)", text):
            out[name] += int(m.group(1))
    return out


def tcp_counters(ports: list[int]) -> dict[str, int] | None:
    """Kernel TCP counters of established sockets on these local ports (``ss``)."""
    ss = shutil.which("ss")
    if ss is None or not ports:
        return None
    filt = " or ".join(f"sport = :{p}" for p in ports)
    done = subprocess.run([ss, "-tinH", "state", "established", f"( {filt} )"],
                          capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        return None
    return parse_ss(done.stdout)


def commandstats(redis_url: str | None) -> dict[str, int] | None:
    """``INFO commandstats`` calls per command (lower case), or ``None``."""
    if not redis_url:
        return None
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        info = client.info("commandstats")
    except redis.RedisError:
        return None
    finally:
        client.close()
    out: dict[str, int] = {}
    for key, value in info.items():
        name = str(key).removeprefix("cmdstat_").lower()
        if isinstance(value, dict) and "calls" in value:
            out[name] = int(value["calls"])
    return out


@dataclass
class Sample:
    t: float
    rss: int | None
    tcp: dict[str, int] | None
    redis: dict[str, int] | None


def take_sample(pids: list[int], ports: list[int], redis_url: str | None) -> Sample:
    rss = [rss_bytes(p) for p in pids]
    return Sample(
        t=time.monotonic(),
        rss=None if None in rss else sum(r for r in rss if r is not None),
        tcp=tcp_counters(ports), redis=commandstats(redis_url))


def _port(url: str) -> int:
    return int(urlsplit(url).port or 80)


def sampled_run(urls: list[str], pids: list[int], rooms: int, players_per_room: int,
                duration: float, prefix: str, redis_url: str | None = None,
                sticky: bool = False) -> tuple[dict[str, Any], Sample | None, Sample | None]:
    """Bots through the bench's runner; samples at the start and near the end of the window.

    A thread waits for the runner's window to open (its progress says
    ``measuring``, at most half a second late), samples, and samples again a
    second before the window's end as it estimates it (so still inside it).
    """
    opened = threading.Event()
    stop = threading.Event()
    samples: list[Sample] = []
    ports = [_port(u) for u in urls]

    def on_progress(p: Progress) -> None:
        if p.measuring:
            opened.set()

    def sampler() -> None:
        if not opened.wait(20 + rooms * players_per_room / 25 + 30) or stop.is_set():
            return
        start = time.monotonic()
        samples.append(take_sample(pids, ports, redis_url))
        if not stop.wait(max(0.5, start + duration - 1.0 - time.monotonic())):
            samples.append(take_sample(pids, ports, redis_url))

    sc = SwarmConfig(urls=urls, rooms=rooms, players_per_room=players_per_room,
                     duration=duration, room_prefix=prefix, sticky=sticky)
    thread = threading.Thread(target=sampler, name="capacity-sampler", daemon=True)
    thread.start()
    try:
        report = run(RunConfig(swarm=sc, server_pids=pids), on_progress).report
    finally:
        stop.set()
        thread.join(15)
    if len(samples) < 2:
        return report, None, None
    return report, samples[0], samples[1]


def _window(report: dict[str, Any], planned: int) -> dict[str, Any]:
    """The part of a bot report the capacity JSON keeps, with the load beside it."""
    srv = report.get("server") or {}
    return {"planned_players": planned, "load_avg_1m": round(os.getloadavg()[0], 2),
            "players": report.get("ccu"), "rooms": report.get("rooms"),
            "duration_s": report.get("duration_s"), "cpu_s": srv.get("proc_cpu_s"),
            "delivery_ratio": report.get("delivery_ratio"),
            "ack_p99_ms": (report.get("ack_latency_ms") or {}).get("p99"),
            "errors": report.get("errors")}


def warm_base(urls: list[str], pids: list[int], prefix: str) -> int | None:
    """One bot joins and leaves (imports, first-use caches); then the server's RSS."""
    run(RunConfig(swarm=SwarmConfig(urls=urls, rooms=1, players_per_room=1, duration=1.0,
                                    room_prefix=f"{prefix}-warm")))
    time.sleep(0.5)
    return rss_bytes(pids[0])


def one_process_run(sz: Sizes, tmp: Path, rooms: int, per_room: int, name: str,
                    say: Callable[[str], None]) -> dict[str, Any]:
    """A fresh one-process server: warm base RSS, then the load and its samples."""
    with servers("project", tmp) as (urls, procs):
        pids = [p.pid for p in procs]
        base = warm_base(urls, pids, name)
        say(f"capacity: {name}: {rooms} rooms × {per_room} players, {sz.duration:.0f} s…")
        report, s0, s1 = sampled_run(urls, pids, rooms, per_room, sz.duration, name)
    out: dict[str, Any] = {**_window(report, rooms * per_room), "rss_base_bytes": base,
                           "rss_bytes": None, "tcp": None, "sample_s": None}
    if s0 is not None and s1 is not None:
        out["rss_bytes"] = s1.rss
        out["sample_s"] = s1.t - s0.t
        if s0.tcp is not None and s1.tcp is not None:
            out["tcp"] = {k: s1.tcp[k] - s0.tcp[k] for k in s0.tcp}
    return out


def redis_run(sz: Sizes, redis_url: str, tmp: Path) -> dict[str, Any]:
    """Two processes on Redis, sticky: commandstats delta and the processes' CPU."""
    with servers("redis", tmp, redis_url) as (urls, procs):
        pids = [p.pid for p in procs]
        report, s0, s1 = sampled_run(urls, pids, sz.rooms, sz.players_per_room, sz.duration,
                                     "capacity-redis", redis_url, sticky=True)
    out: dict[str, Any] = {**_window(report, sz.players), "commands": None, "sample_s": None}
    if s0 is not None and s1 is not None and s0.redis is not None and s1.redis is not None:
        out["sample_s"] = s1.t - s0.t
        out["commands"] = {k: n - s0.redis.get(k, 0) for k, n in sorted(s1.redis.items())
                           if k not in IGNORED_COMMANDS and n - s0.redis.get(k, 0) > 0}
    return out


def parse_redis_benchmark_csv(text: str) -> dict[str, float]:
    """``{test: requests per second}`` of ``redis-benchmark --csv`` output."""
    out: dict[str, float] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0] != "test":
            with contextlib.suppress(ValueError):
                out[row[0]] = float(row[1])
    return out


def redis_benchmark(redis_url: str) -> dict[str, Any]:
    """Ops/s of one Redis core (the slowest of SET, GET, PUBLISH), or the fallback."""
    binary = shutil.which("redis-benchmark")
    parts = urlsplit(redis_url)
    if binary is None or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return {"ops_per_s": REDIS_OPS_FALLBACK, "source": REDIS_OPS_FALLBACK_SOURCE,
                "tests": {}}
    base = [binary, "-h", parts.hostname, "-p", str(parts.port or 6379), "-n", "50000",
            "-c", "50", "--csv"]
    tests: dict[str, float] = {}
    for extra in (["-t", "set,get"], ["publish", "capacity-benchmark", "x"]):
        done = subprocess.run(base + extra, capture_output=True, text=True, timeout=120)
        tests.update(parse_redis_benchmark_csv(done.stdout))
    if not tests:
        return {"ops_per_s": REDIS_OPS_FALLBACK, "source": REDIS_OPS_FALLBACK_SOURCE,
                "tests": {}}
    return {"ops_per_s": min(tests.values()), "tests": tests,
            "source": "redis-benchmark -n 50000 -c 50 (SET, GET, PUBLISH; the slowest), "
                      "on this machine beside nothing else of ours"}


def db_run(sz: Sizes, tmp: Path, database_url: str | None) -> dict[str, Any]:
    """:mod:`load_tests.db_writes` in a subprocess on a fresh migrated database."""
    # No reconnect grace: a leave gives its seat back at the next tick, inside the count.
    env = project_env(tmp / "capacity-db.sqlite3", RECONNECT_GRACE_SECONDS="0")
    if database_url:
        env["DATABASE_URL"] = database_url
    mig = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if mig.returncode != 0:
        raise RuntimeError(f"manage.py migrate failed: {mig.stderr[-1500:]}")
    out = tmp / "db-writes.json"
    done = subprocess.run([sys.executable, "-m", "load_tests.db_writes", "--players",
                           str(sz.db_players), "--messages", str(sz.db_messages), "--json",
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"db_writes exited {done.returncode}: {done.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def warnings(runs: dict[str, Any]) -> list[str]:
    """Runs that were not a steady state: the machine could not carry them.

    A run whose bots did not all connect, or that delivered less than
    :data:`STEADY_DELIVERY` of its snapshots, measured an overloaded machine:
    its figures are kept but flagged.
    """
    out = []
    for name in ("steady", "shape", "redis"):
        rec = runs.get(name) or {}
        r = rec.get("report") if rec.get("ok") else None
        if not r:
            continue
        planned, players = r.get("planned_players"), r.get("players") or 0
        delivered = r.get("delivery_ratio") or 0.0
        if (planned and players < planned) or delivered < STEADY_DELIVERY:
            out.append(f"the {name} run connected {players} of {planned} players and delivered "
                       f"{100 * delivered:.1f} % of their snapshots (load average "
                       f"{r.get('load_avg_1m')} at its end): the machine could not carry it, "
                       "its figures are not a steady state")
    return out


def _recorded(name: str, results: dict[str, Any], say: Callable[[str], None],
              fn: Callable[[], Any]) -> None:
    """``results[name] = fn()``, or the error: a failed measurement is never fatal."""
    try:
        results[name] = {"ok": True, "error": None, "report": fn()}
    except Exception as exc:
        results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000],
                         "report": None}
        say(f"capacity: {name} FAILED: {results[name]['error'][:300]}")


def measure(sz: Sizes, database_url: str | None, say: Callable[[str], None]) -> dict[str, Any]:
    """Every measurement of the module docstring; ``{name: {ok, error, report}}``."""
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="arena-capacity-") as tmpdir:
        tmp = Path(tmpdir)
        _recorded("steady", runs, say, lambda: one_process_run(
            sz, tmp, sz.rooms, sz.players_per_room, "capacity-steady", say))
        _recorded("shape", runs, say, lambda: one_process_run(
            sz, tmp, sz.shape_rooms, sz.shape_players, "capacity-shape", say))
        with redis_for_bench(tmp) as redis_url:
            if redis_url is None:
                runs["redis"] = runs["redis_benchmark"] = {
                    "ok": False, "report": None,
                    "error": "skipped: no REDIS_URL and no redis-server on PATH"}
            else:
                url = redis_url
                say(f"capacity: two processes on Redis, sticky, {sz.players} players…")
                _recorded("redis", runs, say, lambda: redis_run(sz, url, tmp))
                say("capacity: redis-benchmark…")
                _recorded("redis_benchmark", runs, say, lambda: redis_benchmark(url))
        say("capacity: database statements per join and chat message…")
        _recorded("db", runs, say, lambda: db_run(sz, tmp, database_url))
    return runs


def figures(runs: dict[str, Any], asm: Assumptions) -> dict[str, Any]:
    """The model's inputs (:data:`FIGURE_KEYS`) from the runs; ``None`` where not measured."""
    fig: dict[str, Any] = dict.fromkeys(FIGURE_KEYS)

    def rep(name: str) -> dict[str, Any] | None:
        rec = runs.get(name) or {}
        report: dict[str, Any] | None = rec.get("report") if rec.get("ok") else None
        return report

    steady, shape = rep("steady"), rep("shape")
    if steady and steady.get("cpu_s") is not None and steady.get("players"):
        fig["cpu_s_per_player_s"] = steady["cpu_s"] / (steady["players"]
                                                       * steady["duration_s"])
    if steady and steady.get("tcp") and steady.get("players") and steady.get("sample_s"):
        per = steady["players"] * steady["sample_s"]
        tcp = steady["tcp"]
        fig["bytes_out_per_player_s"] = (tcp["bytes_acked"] + HEADER_BYTES * tcp["segs_out"]) / per
        fig["bytes_in_per_player_s"] = (tcp["bytes_received"]
                                        + HEADER_BYTES * tcp["segs_in"]) / per
    points = [(r["rooms"], r["players"], r["rss_bytes"] - r["rss_base_bytes"])
              for r in (steady, shape)
              if r and r.get("rss_bytes") is not None and r.get("rss_base_bytes") is not None
              and r.get("players")]
    bases = [r["rss_base_bytes"] for r in (steady, shape) if r and r.get("rss_base_bytes")]
    if bases:
        fig["rss_base_bytes"] = sum(bases) / len(bases)
    fig["rss_per_room_bytes"], fig["rss_per_player_bytes"] = fit_memory(points)
    red = rep("redis")
    if red and red.get("commands") is not None and red.get("sample_s") and red.get("rooms"):
        room_ticks = red["rooms"] * asm.tick_rate * red["sample_s"]
        layer = sum(n for k, n in red["commands"].items() if k in LAYER_COMMANDS)
        other = sum(n for k, n in red["commands"].items() if k not in LAYER_COMMANDS)
        fig["redis_layer_ops_per_room_tick"] = layer / room_ticks
        fig["redis_other_ops_per_room_tick"] = other / room_ticks
    bench = rep("redis_benchmark")
    if bench:
        fig["redis_ops_per_s_per_core"] = bench["ops_per_s"]
    db = rep("db")
    if db:
        ppr = asm.room_size
        join = (db["first_join"]["write"] + (ppr - 1) * db["join"]["write"]) / ppr
        fig["db_writes_per_session"] = (db["guest_session"]["write"]
                                        + db["lobby_connect"]["write"])
        fig["db_writes_per_join"] = join + db["leave"]["write"]
        fig["db_writes_per_chat"] = db["chat_message"]["write"]
    return fig


# -- rendering ---------------------------------------------------------------------------


def _n(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def _bytes(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 2**20:
        return f"{v / 2**20:,.1f} MiB"
    return f"{v / 1024:,.1f} KiB"


def render(results: dict[str, Any]) -> dict[str, str]:
    """Markdown of each marker block: ``figures``, ``model``, ``check``."""
    m = results.get("machine") or {}
    fig = results.get("figures") or {}
    asm = Assumptions(**(results.get("assumptions") or {}))
    runs = results.get("runs") or {}
    sz = results.get("sizes") or {}
    mod = model(fig, asm)

    def rep(name: str) -> dict[str, Any]:
        r: dict[str, Any] = (runs.get(name) or {}).get("report") or {}
        return r

    steady, red, bench, db = rep("steady"), rep("redis"), rep("redis_benchmark"), rep("db")
    failed = [f"`{k}`: {str(v.get('error')).splitlines()[0][:200]}" for k, v in runs.items()
              if not v.get("ok")]
    lines = [
        f"Generated by `make capacity` on {m.get('date')} — {m.get('cpu_model')}, "
        f"{m.get('cores')} cores, Python {m.get('python')}, commit "
        f"`{(m.get('git_commit') or 'uncommitted')[:12]}`"
        f"{' (quick)' if results.get('quick') else ''}. Steady run: "
        f"{sz.get('rooms')} rooms × {sz.get('players_per_room')} players at 20 Hz for "
        f"{sz.get('duration')} s (delivered {_n(100 * (steady.get('delivery_ratio') or 0))} %, "
        f"ack p99 {_n(steady.get('ack_p99_ms'))} ms); memory shape run: "
        f"{sz.get('shape_rooms')} rooms × {sz.get('shape_players')} players.",
        "",
        "| figure | value | how |",
        "| --- | --- | --- |",
        f"| CPU per player-second | {_n(fig.get('cpu_s_per_player_s'), 5)} core-s "
        f"({_n(1 / fig['cpu_s_per_player_s'] if fig.get('cpu_s_per_player_s') else None, 0)} "
        "players fill a core) | server `/proc` CPU / (players × window s), one process |",
        f"| memory: process base | {_bytes(fig.get('rss_base_bytes'))} | RSS after one bot "
        "joined and left |",
        f"| memory per room | {_bytes(fig.get('rss_per_room_bytes'))} | RSS growth fitted over "
        "the two runs |",
        f"| memory per player | {_bytes(fig.get('rss_per_player_bytes'))} | same fit |",
        f"| bytes per player-second, server → player | {_n(fig.get('bytes_out_per_player_s'), 0)}"
        f" | kernel TCP counters of the game sockets (`ss -ti`), + {HEADER_BYTES} B "
        "IPv4/TCP headers per segment |",
        f"| bytes per player-second, player → server | {_n(fig.get('bytes_in_per_player_s'), 0)}"
        " | same |",
        f"| Redis ops per room-tick: channel layer | "
        f"{_n(fig.get('redis_layer_ops_per_room_tick'), 3)} | `INFO commandstats` Δ, two "
        "processes, sticky |",
        f"| Redis ops per room-tick: leases, checkpoints, process keys | "
        f"{_n(fig.get('redis_other_ops_per_room_tick'), 3)} | same (commands inside Lua "
        "scripts counted too) |",
        f"| Redis ops/s one core takes | {_n(fig.get('redis_ops_per_s_per_core'), 0)} | "
        f"{bench.get('source') or REDIS_OPS_FALLBACK_SOURCE} |",
        f"| database writes per session | {_n(fig.get('db_writes_per_session'), 2)} | guest "
        "session + lobby socket, statements counted in-process on "
        f"{db.get('vendor') or '–'} |",
        f"| database writes per join | {_n(fig.get('db_writes_per_join'), 2)} | seat (room "
        "creation amortised over a full room) + leave |",
        f"| database writes per chat message | {_n(fig.get('db_writes_per_chat'), 2)} | "
        "same |",
    ]
    if red.get("commands"):
        lines += ["", "Redis commands in the two-process window: " + ", ".join(
            f"`{k}` {v:,}" for k, v in red["commands"].items()) + "."]
    if db:
        lines += ["", "Database statements per event (writes / reads / other): " + "; ".join(
            f"{k.replace('_', ' ')} {db[k]['write']:g} / {db[k]['read']:g} / {db[k]['other']:g}"
            for k in ("guest_session", "first_join", "join", "leave", "lobby_connect",
                      "chat_message") if k in db) + "."]
    if failed:
        lines += ["", "Not measured: " + "; ".join(failed) + "."]
    warned = warnings(runs)
    if warned:
        lines[1:1] = ["", "**Not a steady state:** " + "; ".join(warned) + ". Re-run on a "
                      "quieter machine or with fewer players (`--rooms`)."]
    figures_md = "\n".join(lines)

    ppu = mod["players_per_unit"]
    asm_lines = ["| assumption | value |", "| --- | --- |"] + [
        f"| `{f.name}` | {getattr(asm, f.name):g} |" for f in fields(asm)]
    rank = ["", "| resource | players one unit carries (planned utilisation) |", "| --- | --- |"]
    rank += [f"| {RESOURCES[k]} | {_n(ppu[k], 0)} |" for k in mod["ranking"]]
    first = mod["first_bottleneck"]
    shared = mod["first_shared_bottleneck"]
    summary = ["", f"**First bottleneck:** {RESOURCES[first] if first else 'not measured'}"
               + (f", at {_n(ppu[first], 0)} players per unit" if first else "") + "."]
    if shared:
        summary[-1] += (f" The first shared service to saturate (adding processes does not "
                        f"help): {RESOURCES[shared]}, at {_n(ppu[shared], 0)} players.")
    t_rows = ["", "| | " + " | ".join(f"{int(n):,} players" for n in mod["targets"]) + " |",
              "| --- |" + " --- |" * len(mod["targets"])]
    tv = list(mod["targets"].values())

    def row(label: str, fmt: Callable[[dict[str, Any]], str]) -> None:
        t_rows.append(f"| {label} | " + " | ".join(fmt(t) for t in tv) + " |")

    row("rooms", lambda t: _n(t["rooms"]))
    row("processes (cores)", lambda t: f"{_n(t['processes'])} (CPU {_n(t['processes_by_cpu'])}, "
        f"memory {_n(t['processes_by_memory'])})")
    row("CPU used, in fully busy cores", lambda t: _n(t.get("cpu_cores_busy")))
    row("memory, all processes", lambda t: f"{_n(t.get('memory_gib'), 1)} GiB")
    row("network out / in (host links)", lambda t: f"{_n(t['gbit_s_out'], 2)} / "
        f"{_n(t['gbit_s_in'], 2)} Gbit/s ({_n(t['network_links'])})")
    row("Redis ops/s", lambda t: _n(t["redis_ops_s"], 0))
    row("Redis shards", lambda t: _n(t["redis_shards"]) if t["redis_shards"] is not None or
        t["redis_first_load"] is None else "more than one core for leases alone")
    row("first Redis load (of its planned budget)", lambda t: "–" if t["redis_first_load"]
        is None else f"{100 * t['redis_first_load']:.0f} %")
    row("database writes/s (sessions/s, joins/s, chat/s)", lambda t: f"{_n(t['db_writes_s'], 0)} "
        f"({_n(t['db_sessions_s'], 0)}, {_n(t['db_joins_s'], 0)}, {_n(t['db_chats_s'], 0)})")
    row("one database primary's load", lambda t: "–" if t["db_primary_load"] is None
        else f"{100 * t['db_primary_load']:.0f} %")
    model_md = "\n".join(asm_lines + rank + summary + t_rows)

    chk = check(fig, red if red else None)
    if chk is None:
        check_md = "Not measured: " + str((runs.get("redis") or {}).get("error") or "not run")
    else:
        check_md = (
            f"Two processes on Redis, sticky routing, {chk['players']} players in "
            f"{chk['rooms']} rooms for {chk['duration_s']} s (delivered "
            f"{_n(100 * (chk.get('delivery_ratio') or 0))} %): the model predicts "
            f"{chk['predicted_cpu_s']:.2f} CPU-s (players × seconds × the one-process figure), "
            f"measured {chk['cpu_s']:.2f} CPU-s over both processes: "
            f"{100 * chk['error']:+.0f} %.")
        if any(w.startswith(("the steady ", "the redis ")) for w in warned):
            check_md += (" Not a steady state (the warning above the measured figures): the "
                         "difference says more about the machine's load than about the model.")
    return {"figures": figures_md, "model": model_md, "check": check_md}


# -- command ---------------------------------------------------------------------------


def add_args(p: argparse.ArgumentParser) -> None:
    """The ``capacity`` subcommand's arguments."""
    d = Sizes()
    p.add_argument("--quick", action="store_true", help="smaller runs, for trying")
    p.add_argument("--rooms", type=int, default=d.rooms)
    p.add_argument("--players-per-room", type=int, default=d.players_per_room)
    p.add_argument("--duration", type=float, default=d.duration, help="window of each run, s")
    p.add_argument("--shape-rooms", type=int, default=d.shape_rooms,
                   help="the memory fit's second run: this many rooms…")
    p.add_argument("--shape-players", type=int, default=d.shape_players,
                   help="…of this many players")
    p.add_argument("--database-url", default=None,
                   help="count database statements on this (migrated by the command) database "
                        "instead of a fresh SQLite file, e.g. postgres://…/h_capacity")
    p.add_argument("--out", type=Path, default=Path("bench/capacity.json"))
    p.add_argument("--docs", type=Path, default=Path("docs/capacity.md"))
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: model the figures stored in --out again and "
                        "re-render --docs (e.g. after changing an assumption)")
    for f in fields(Assumptions):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None,
                       metavar="V", help=f"model assumption (default {f.default})")
    p.add_argument("--quiet", action="store_true")


class UsageError(Exception):
    """A bad ``capacity`` argument."""


def sizes_from_args(a: argparse.Namespace) -> Sizes:
    if a.quick:
        return QUICK
    if min(a.rooms, a.players_per_room, a.shape_rooms, a.shape_players) < 1 or a.duration < 3:
        raise UsageError("--rooms, --players-per-room, --shape-rooms and --shape-players must "
                         "be positive, --duration at least 3 s")
    return Sizes(rooms=a.rooms, players_per_room=a.players_per_room, duration=a.duration,
                 shape_rooms=a.shape_rooms, shape_players=a.shape_players)


def assumptions_from_args(a: argparse.Namespace, base: Assumptions) -> Assumptions:
    changed = {f.name: getattr(a, f.name) for f in fields(Assumptions)
               if getattr(a, f.name, None) is not None}
    for name, value in changed.items():
        if value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    asm = Assumptions(**{**asdict(base), **changed})
    for name in ("cpu_utilisation", "redis_utilisation", "db_utilisation", "nic_utilisation"):
        if getattr(asm, name) > 1:
            raise UsageError(f"--{name.replace('_', '-')} is a fraction in (0, 1]")
    return asm


def main_capacity(a: argparse.Namespace) -> int:
    """Measure (unless ``--render-only``), write ``a.out``, regenerate ``a.docs``."""

    def say(msg: str) -> None:
        if not a.quiet:
            print(msg, file=sys.stderr, flush=True)

    try:
        if a.render_only:
            results: dict[str, Any] = json.loads(a.out.read_text())
            base = Assumptions(**(results.get("assumptions") or {}))
        else:
            sz = sizes_from_args(a)
            base = Assumptions()
        asm = assumptions_from_args(a, base)
    except (UsageError, OSError, ValueError, TypeError) as exc:
        print(f"python -m load_tests capacity: error: {exc}", file=sys.stderr)
        return 2
    if not a.render_only:
        results = {"machine": machine(), "quick": bool(a.quick), "sizes": asdict(sz),
                   "runs": measure(sz, a.database_url, say)}
        results["figures"] = figures(results["runs"], asm)
    results["assumptions"] = asdict(asm)
    results["model"] = finite(model(results["figures"], asm))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    update_docs(a.docs, render(results), prefix=MARKERS)
    say(f"capacity: wrote {a.out} and {a.docs}")
    return 0
