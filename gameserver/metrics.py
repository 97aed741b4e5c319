"""Prometheus metrics of the real-time runtime. Labels are bounded: never a room or a user.

Every label below takes values from a fixed, small set (a role, a phase, a
close code, an error code of the protocol, a chat channel kind). The
`/metrics` view (gameserver/views.py) renders them; with
`PROMETHEUS_MULTIPROC_DIR` set, prometheus-client keeps each process's values
in files there and the view aggregates every process's (gauges below say how:
`livesum` = sum over live processes). docs/operations.md lists them all.

Counters the per-frame path touches (inputs accepted, snapshots and bytes
written) are not incremented per frame: a counter's `inc` takes a lock (and,
in multiprocess mode, writes to a file). They gather in a `Tally`, a plain
int, and `flush` adds each tally to its counter once: after each snapshot a
hub delivers (so every process with sockets flushes several times a second)
and before `/metrics` renders (so a scrape of this process is exact).
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)

_TICK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)



def label_phases() -> tuple[str, ...]:
    """The `phase` label's only values: the union of the offered games' phases (GAMES)."""
    from lobby import games

    return games.all_phases()


TICK_SECONDS = Histogram(
    "arena_tick_duration_seconds", "Time to step a room and build its snapshot",
    buckets=_TICK_BUCKETS,
)
TICK_LATENESS = Histogram(
    "arena_tick_lateness_seconds", "How late a tick started against its deadline",
    buckets=_TICK_BUCKETS,
)
TICKS_SKIPPED = Counter("arena_ticks_skipped_total", "Ticks skipped after a stall")
CONNECTED = Gauge(
    "arena_connected", "Open game sockets in this process", ["role"],
    multiprocess_mode="livesum",
)
ROOMS = Gauge(
    "arena_rooms", "Rooms whose engine runs in this process", multiprocess_mode="livesum"
)
ROOMS_BY_PHASE = Gauge(
    "arena_rooms_by_phase", "Rooms whose engine runs here, by match phase", ["phase"],
    multiprocess_mode="livesum",
)
SNAPSHOTS_SENT = Counter("arena_snapshots_sent_total", "Snapshot frames written to sockets")
BYTES_SENT = Counter("arena_bytes_sent_total", "Bytes of game frames written to sockets")
INPUTS = Counter("arena_inputs_total", "Client frames handled", ["result"])
REJECTED = Counter("arena_frames_rejected_total", "Client frames rejected", ["code"])
CLOSES = Counter("arena_closes_total", "Game sockets closed by the server", ["code"])
SLOW_DROPS = Counter(
    "arena_slow_client_drops_total", "Game sockets dropped for not reading (close 4009)"
)
FLOOD_CLOSES = Counter(
    "arena_rate_limit_closes_total", "Game sockets closed for flooding (close 4008)"
)
RECONNECTIONS = Counter("arena_reconnections_total", "Players who resumed their seat")
LAYER_SEND_SECONDS = Histogram(
    "arena_layer_send_seconds", "Channel-layer group_send latency", buckets=_TICK_BUCKETS
)
CHAT_MESSAGES = Counter(
    "arena_chat_messages_total", "Chat messages stored", ["channel"]
)
CLUSTER_DROPPED = Counter(
    "arena_cluster_messages_dropped_total",
    "Messages from other server processes dropped (malformed, unknown type, stale owner)",
    ["reason"],
)
CLUSTER_SENT = Counter(
    "arena_cluster_messages_sent_total",
    "Channel-layer messages this process sent to other server processes, by type",
    ["type"],
)
CLUSTER_INPUTS_FORWARDED = Counter(
    "arena_cluster_inputs_forwarded_total",
    "Player inputs sent to another process's room owner (batched in room.inputs)",
)
LEASE_LAPSES = Counter(
    "arena_lease_lapses_total", "Rooms paused because their lease was not renewed in time"
)
LEASE_ROUND_SECONDS = Histogram(
    "arena_lease_round_seconds",
    "Time of one lease round (renewals, checkpoints, owner checks); near LEASE_TTL_SECONDS "
    "rooms pause",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0),
)
CHECKPOINTS_REFUSED = Counter(
    "arena_checkpoints_refused_total", "Checkpoint writes refused: a newer owner holds the room"
)
ORPHANS_CLOSED = Counter(
    "arena_orphan_rooms_closed_total", "Rooms closed because their engine died with its process"
)
SOCKET_PATH = Counter(
    "arena_socket_path_total",
    "Accepted game sockets by socket path: daphne adapter (fast) or plain ASGI (fallback)",
    ["path"],
)
for _path in ("fast", "fallback"):
    SOCKET_PATH.labels(_path)

for _reason in ("unknown_type", "invalid", "stale_owner"):  # interprocess.DROP_REASONS
    CLUSTER_DROPPED.labels(_reason)
for _phase in label_phases():  # export every phase from the start, at 0
    ROOMS_BY_PHASE.labels(_phase)
for _role in ("player", "spectator"):
    CONNECTED.labels(_role)
for _kind in ("lobby", "room"):
    CHAT_MESSAGES.labels(_kind)


class Tally:
    """Increments of one counter, gathered in `count` until the next `flush`."""

    __slots__ = ("count", "counter")

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.count = 0
        _TALLIES.append(self)


_TALLIES: list[Tally] = []


def flush() -> None:
    """Add every tally's gathered count to its counter (one `inc` each, none when 0)."""
    for tally in _TALLIES:
        count = tally.count
        if count:
            tally.count = 0
            tally.counter.inc(count)


INPUTS_ACCEPTED = Tally(INPUTS.labels("accepted"))
SNAPSHOTS_SENT_TALLY = Tally(SNAPSHOTS_SENT)
BYTES_SENT_TALLY = Tally(BYTES_SENT)


def count_close(code: int) -> None:
    """A game socket closed by the server with `code` (a fixed set of close codes)."""
    CLOSES.labels(str(code)).inc()
    if code == 4009:
        SLOW_DROPS.inc()
    elif code == 4008:
        FLOOD_CLOSES.inc()


def chat_channel_kind(channel: str) -> str:
    """The bounded label of a chat channel: `lobby` or `room` (never the room's name)."""
    return "room" if channel.startswith("room.") else "lobby"


def observe_rooms(phases: Collection[str]) -> None:
    """Set `arena_rooms` and `arena_rooms_by_phase` from the phases of this process's rooms.

    Called at scrape time and by the manager when a room starts, changes
    phase or closes (so in multiprocess mode every process's file is fresh).
    """
    ROOMS.set(len(phases))
    counts = dict.fromkeys(label_phases(), 0)
    for phase in phases:
        if phase in counts:
            counts[phase] += 1
    for phase, count in counts.items():
        ROOMS_BY_PHASE.labels(phase).set(count)


def registry(multiproc_dir: str | None) -> CollectorRegistry:
    """The registry `/metrics` renders.

    Without a multiprocess directory: the default registry (this process's
    metrics plus prometheus-client's process and platform collectors). With
    one: a fresh registry aggregating every process's files, plus the
    `process_*` metrics of the process answering the scrape.
    """
    if not multiproc_dir:
        return REGISTRY
    from prometheus_client import multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=multiproc_dir)
    ProcessCollector(registry=merged)
    return merged
