"""Server-side figures: Prometheus text scraping and /proc CPU times.

The runner scrapes ``GET /metrics`` at the start and at the end of the
measurement window and reports the difference:

* tick duration p50/p99 from the histogram ``arena_tick_duration_seconds``
  (bucket counts summed over all label sets, quantiles interpolated inside the
  bucket like PromQL's ``histogram_quantile``);
* server CPU seconds from ``process_cpu_seconds_total``.

With several server URLs (one per process) the histograms are merged and the
CPU seconds summed. :func:`proc_cpu_seconds` reads ``/proc/<pid>/stat`` for
servers the runner started itself (Linux only).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from load_tests.http import request

TICK_HISTOGRAM = "arena_tick_duration_seconds"
CPU_COUNTER = "process_cpu_seconds_total"

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LE = re.compile(r'le="([^"]+)"')


@dataclass
class Scrape:
    """The figures of one ``/metrics`` page that the report uses."""

    buckets: dict[float, float] = field(default_factory=dict)  # le → cumulative count
    tick_count: float = 0.0
    tick_sum: float = 0.0
    cpu_s: float | None = None

    @property
    def has_ticks(self) -> bool:
        return bool(self.buckets)

    def __add__(self, other: Scrape) -> Scrape:
        out = Scrape(dict(self.buckets), self.tick_count + other.tick_count,
                     self.tick_sum + other.tick_sum)
        for le, n in other.buckets.items():
            out.buckets[le] = out.buckets.get(le, 0.0) + n
        if self.cpu_s is None:
            out.cpu_s = other.cpu_s
        elif other.cpu_s is None:
            out.cpu_s = self.cpu_s
        else:
            out.cpu_s = self.cpu_s + other.cpu_s
        return out

    def __sub__(self, before: Scrape) -> Scrape:
        out = Scrape({le: n - before.buckets.get(le, 0.0) for le, n in self.buckets.items()},
                     self.tick_count - before.tick_count, self.tick_sum - before.tick_sum)
        if self.cpu_s is not None and before.cpu_s is not None:
            out.cpu_s = self.cpu_s - before.cpu_s
        return out


def parse_prometheus(text: str) -> Scrape:
    """Extract the tick histogram and the process CPU counter from exposition text."""
    s = Scrape()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        name, labels, raw = m.group(1), m.group(2) or "", m.group(3)
        try:
            value = float(raw)
        except ValueError:
            continue
        if name == TICK_HISTOGRAM + "_bucket":
            le_m = _LE.search(labels)
            if le_m:
                le = math.inf if le_m.group(1) == "+Inf" else float(le_m.group(1))
                s.buckets[le] = s.buckets.get(le, 0.0) + value
        elif name == TICK_HISTOGRAM + "_count":
            s.tick_count += value
        elif name == TICK_HISTOGRAM + "_sum":
            s.tick_sum += value
        elif name == CPU_COUNTER:
            s.cpu_s = (s.cpu_s or 0.0) + value
    return s


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """PromQL-style quantile (0..1) of cumulative ``le → count`` buckets.

    Linear interpolation inside the bucket holding the rank; a rank in the
    ``+Inf`` bucket returns the largest finite bound. ``None`` when empty.
    """
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        count = buckets[b]
        if count >= rank:
            if math.isinf(b):
                return prev_bound
            in_bucket = count - prev_count
            if in_bucket <= 0:
                return b
            return prev_bound + (b - prev_bound) * (rank - prev_count) / in_bucket
        prev_bound, prev_count = (b if not math.isinf(b) else prev_bound), count
    return prev_bound


async def scrape(base_url: str, timeout: float = 5.0) -> Scrape | None:
    """GET ``<base_url>/metrics``; ``None`` when unreachable or not Prometheus text."""
    try:
        resp = await request("GET", base_url.rstrip("/") + "/metrics", timeout=timeout)
    except (OSError, TimeoutError, ValueError):
        return None
    if resp.status != 200:
        return None
    s = parse_prometheus(resp.body.decode("utf-8", "replace"))
    if not s.has_ticks and s.cpu_s is None:
        return None
    return s


async def scrape_all(urls: list[str]) -> Scrape | None:
    """Scrape every URL and sum the pages; ``None`` if none answered."""
    total: Scrape | None = None
    for u in urls:
        s = await scrape(u)
        if s is not None:
            total = s if total is None else total + s
    return total


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` from ``/proc``; ``None`` if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces; fields start after the last ")".
    fields = data.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def server_figures(
    before: Scrape | None,
    after: Scrape | None,
    pid_cpu: float | None,
    urls: list[str],
) -> dict[str, Any] | None:
    """The report's ``server`` entry, or ``None`` when nothing was measurable.

    Keys: ``metrics`` (bool: /metrics answered), ``tick_ms`` {p50, p99, count},
    ``cpu_s`` (Δ ``process_cpu_seconds_total``), ``proc_cpu_s`` (Δ /proc CPU of
    ``--server-pid``s), ``urls``.
    """
    if (before is None or after is None) and pid_cpu is None:
        return None
    out: dict[str, Any] = {"urls": urls, "metrics": False, "tick_ms": None, "cpu_s": None,
                           "proc_cpu_s": None if pid_cpu is None else round(pid_cpu, 3)}
    if before is not None and after is not None:
        d = after - before
        out["metrics"] = True
        if d.buckets:
            p50 = histogram_quantile(0.50, d.buckets)
            p99 = histogram_quantile(0.99, d.buckets)
            out["tick_ms"] = {
                "p50": None if p50 is None else round(p50 * 1000, 3),
                "p99": None if p99 is None else round(p99 * 1000, 3),
                "count": int(d.tick_count),
            }
        if d.cpu_s is not None:
            out["cpu_s"] = round(d.cpu_s, 3)
    return out
