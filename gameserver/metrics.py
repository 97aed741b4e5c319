"""Prometheus metrics of the real-time runtime. Labels are bounded: never a room or a user."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_TICK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)

TICK_SECONDS = Histogram(
    "arena_tick_duration_seconds", "Time to step a room and build its snapshot",
    buckets=_TICK_BUCKETS,
)
TICK_LATENESS = Histogram(
    "arena_tick_lateness_seconds", "How late a tick started against its deadline",
    buckets=_TICK_BUCKETS,
)
TICKS_SKIPPED = Counter("arena_ticks_skipped_total", "Ticks skipped after a stall")
CONNECTED = Gauge("arena_connected", "Open game sockets in this process", ["role"])
ROOMS = Gauge("arena_rooms", "Rooms whose engine runs in this process")
SNAPSHOTS_SENT = Counter("arena_snapshots_sent_total", "Snapshot frames written to sockets")
BYTES_SENT = Counter("arena_bytes_sent_total", "Bytes of game frames written to sockets")
INPUTS = Counter("arena_inputs_total", "Client frames handled", ["result"])
REJECTED = Counter("arena_frames_rejected_total", "Client frames rejected", ["code"])
CLOSES = Counter("arena_closes_total", "Game sockets closed by the server", ["code"])
RECONNECTIONS = Counter("arena_reconnections_total", "Players who resumed their seat")
LAYER_SEND_SECONDS = Histogram(
    "arena_layer_send_seconds", "Channel-layer group_send latency", buckets=_TICK_BUCKETS
)
