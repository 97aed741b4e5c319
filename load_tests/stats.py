"""Measurement containers and the report math (pure, no I/O).

Every bot process fills one :class:`Measurements` with raw samples; the
runner merges them with :meth:`Measurements.merge` and turns the result into
the JSON report with :func:`build_report`. Percentiles use linear
interpolation between closest ranks (NumPy's default ``"linear"`` method), so
``percentile([1, 2, 3, 4], 50) == 2.5``.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The keys of the JSON report, in order. The report has exactly these.
REPORT_KEYS: tuple[str, ...] = (
    "ccu",
    "rooms",
    "duration_s",
    "connect_s",
    "connect_failures",
    "snaps_expected",
    "snaps_received",
    "delivery_ratio",
    "ack_latency_ms",
    "rtt_ms",
    "snap_interval_ms",
    "bytes_per_snapshot",
    "errors",
    "bot_cpu_s",
    "server",
)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Return the ``q``-th percentile (0..100) of already sorted values.

    Linear interpolation between the two closest ranks; ``None`` for an empty
    sequence. ``q`` outside 0..100 raises ``ValueError``.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    n = len(sorted_values)
    if n == 0:
        return None
    if n == 1:
        return float(sorted_values[0])
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return float(sorted_values[lo]) + (float(sorted_values[hi]) - float(sorted_values[lo])) * frac


def summarize(values: Iterable[float], qs: Sequence[int] = (50, 95, 99)) -> dict[str, float | None]:
    """Return ``{"p50": .., "p95": .., "p99": ..}`` (keys follow ``qs``), rounded to 0.01."""
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for q in qs:
        v = percentile(ordered, q)
        out[f"p{q}"] = None if v is None else round(v, 2)
    return out


@dataclass
class BotRecord:
    """What one bot contributes to the delivery figures.

    ``intervals`` are the (welcome, close) monotonic times of each of the bot's
    connections; ``close`` is ``None`` while connected. ``snapshot_rate`` is
    the rate the server announced in its welcome frame.
    """

    snapshot_rate: float = 0.0
    intervals: list[tuple[float, float | None]] = field(default_factory=list)
    spectator: bool = False

    def connected_seconds(self, t0: float, t1: float) -> float:
        """Seconds this bot was connected inside the window ``[t0, t1]``."""
        total = 0.0
        for start, end in self.intervals:
            stop = t1 if end is None else end
            total += max(0.0, min(stop, t1) - max(start, t0))
        return total


@dataclass
class Measurements:
    """Raw samples of one or more bot processes, mergeable and picklable.

    Times (``*_t`` arrays) are seconds since the window start ``t0``; latencies
    are milliseconds. ``recv_per_s[i]`` counts snapshots received in second
    ``i`` of the window.
    """

    t0: float = 0.0
    t1: float = 0.0
    bots_planned: int = 0
    bots_welcomed: int = 0
    rooms: set[str] = field(default_factory=set)
    connect_s: float = 0.0
    connect_failures: int = 0
    snaps_received: int = 0
    snap_bytes: int = 0
    ack_t: array[float] = field(default_factory=lambda: array("f"))
    ack_ms: array[float] = field(default_factory=lambda: array("f"))
    rtt_t: array[float] = field(default_factory=lambda: array("f"))
    rtt_ms: array[float] = field(default_factory=lambda: array("f"))
    intervals_ms: array[float] = field(default_factory=lambda: array("f"))
    recv_per_s: list[int] = field(default_factory=list)
    bots: list[BotRecord] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    bot_cpu_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return max(0.0, self.t1 - self.t0)

    def count_snapshot(self, now: float, size: int) -> None:
        """Count one snapshot received at monotonic time ``now`` inside the window."""
        self.snaps_received += 1
        self.snap_bytes += size
        sec = int(now - self.t0)
        bins = self.recv_per_s
        if sec >= len(bins):
            bins.extend([0] * (sec + 1 - len(bins)))
        bins[sec] += 1

    def merge(self, other: Measurements) -> Measurements:
        """Fold ``other`` into ``self`` (in place) and return ``self``.

        Windows are expected to coincide (the runner starts them together); the
        merged window is their union. Sample arrays are concatenated; times in
        ``other`` are re-based onto ``self.t0``.
        """
        shift = other.t0 - self.t0
        if self.bots_planned == 0 and not self.bots:
            shift = 0.0
            self.t0, self.t1 = other.t0, other.t1
        else:
            self.t1 = max(self.t1, other.t1)
        self.bots_planned += other.bots_planned
        self.bots_welcomed += other.bots_welcomed
        self.rooms |= other.rooms
        self.connect_s = max(self.connect_s, other.connect_s)
        self.connect_failures += other.connect_failures
        self.snaps_received += other.snaps_received
        self.snap_bytes += other.snap_bytes
        if shift:
            self.ack_t.extend(t + shift for t in other.ack_t)
            self.rtt_t.extend(t + shift for t in other.rtt_t)
        else:
            self.ack_t.extend(other.ack_t)
            self.rtt_t.extend(other.rtt_t)
        self.ack_ms.extend(other.ack_ms)
        self.rtt_ms.extend(other.rtt_ms)
        self.intervals_ms.extend(other.intervals_ms)
        offset = round(shift)
        for i, n in enumerate(other.recv_per_s):
            j = max(0, i + offset)
            if j >= len(self.recv_per_s):
                self.recv_per_s.extend([0] * (j + 1 - len(self.recv_per_s)))
            self.recv_per_s[j] += n
        self.bots.extend(other.bots)
        self.errors.update(other.errors)
        self.bot_cpu_s += other.bot_cpu_s
        return self

    def snaps_expected(self) -> float:
        """Sum over bots of connected seconds in the window × announced snapshot rate."""
        return sum(b.connected_seconds(self.t0, self.t1) * b.snapshot_rate for b in self.bots)

    def expected_per_s(self) -> list[float]:
        """Per window second, the snapshots a perfect server would have delivered."""
        n = max(1, math.ceil(self.duration_s))
        out = [0.0] * n
        for b in self.bots:
            for i in range(n):
                lo = self.t0 + i
                out[i] += b.connected_seconds(lo, min(lo + 1.0, self.t1)) * b.snapshot_rate
        return out

    def timeseries(self) -> dict[str, list[float | None]]:
        """Per-second series for plots: ack p50/p99, rtt p99, delivery ratio."""
        n = max(1, math.ceil(self.duration_s))
        ack_bins: list[list[float]] = [[] for _ in range(n)]
        for t, v in zip(self.ack_t, self.ack_ms, strict=True):
            i = int(t)
            if 0 <= i < n:
                ack_bins[i].append(v)
        rtt_bins: list[list[float]] = [[] for _ in range(n)]
        for t, v in zip(self.rtt_t, self.rtt_ms, strict=True):
            i = int(t)
            if 0 <= i < n:
                rtt_bins[i].append(v)
        expected = self.expected_per_s()
        delivery: list[float | None] = []
        for i in range(n):
            got = self.recv_per_s[i] if i < len(self.recv_per_s) else 0
            delivery.append(got / expected[i] if expected[i] > 0 else None)
        ack_p50: list[float | None] = []
        ack_p99: list[float | None] = []
        rtt_p99: list[float | None] = []
        for i in range(n):
            a = sorted(ack_bins[i])
            ack_p50.append(percentile(a, 50))
            ack_p99.append(percentile(a, 99))
            rtt_p99.append(percentile(sorted(rtt_bins[i]), 99))
        return {
            "second": [float(i) for i in range(n)],
            "ack_p50_ms": ack_p50,
            "ack_p99_ms": ack_p99,
            "rtt_p99_ms": rtt_p99,
            "delivery": delivery,
        }


def build_report(m: Measurements, server: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn merged measurements into the JSON report (exactly :data:`REPORT_KEYS`).

    * ``ccu``: bots that received a welcome at least once (players + spectators);
    * ``snaps_expected``: Σ over bots of connected seconds inside the window ×
      the ``snapshot_rate`` of the bot's welcome frame;
    * ``delivery_ratio``: ``snaps_received / snaps_expected`` (``None`` if nothing
      was expected);
    * ``ack_latency_ms``: for each input sent in the window, time until the first
      snapshot whose ``acks[my_id] >= seq``;
    * ``snap_interval_ms``: gaps between consecutive snapshots on one connection.
    """
    expected = m.snaps_expected()
    intervals = sorted(m.intervals_ms)
    p50 = percentile(intervals, 50)
    p99 = percentile(intervals, 99)
    return {
        "ccu": m.bots_welcomed,
        "rooms": len(m.rooms),
        "duration_s": round(m.duration_s, 3),
        "connect_s": round(m.connect_s, 3),
        "connect_failures": m.connect_failures,
        "snaps_expected": round(expected, 1),
        "snaps_received": m.snaps_received,
        "delivery_ratio": round(m.snaps_received / expected, 4) if expected > 0 else None,
        "ack_latency_ms": summarize(m.ack_ms),
        "rtt_ms": summarize(m.rtt_ms),
        "snap_interval_ms": {
            "p50": None if p50 is None else round(p50, 2),
            "p99": None if p99 is None else round(p99, 2),
            "max": round(float(intervals[-1]), 2) if intervals else None,
        },
        "bytes_per_snapshot": (
            round(m.snap_bytes / m.snaps_received, 1) if m.snaps_received else None
        ),
        "errors": dict(sorted(m.errors.items())),
        "bot_cpu_s": round(m.bot_cpu_s, 3),
        "server": server,
    }
