"""Terminal output: the live progress panel and the end-of-run summary (rich)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from load_tests.bot import Progress


class LiveProgress:
    """A rich Live table fed by :meth:`update`; a no-op when ``enabled`` is False.

    Use as a context manager; :meth:`update` is the runner's progress callback.
    """

    def __init__(self, enabled: bool, planned: int, duration: float) -> None:
        self.enabled = enabled
        self.planned = planned
        self.duration = duration
        self._live: Live | None = None
        self._last_snaps = 0
        self._last_t = time.monotonic()
        self._rate = 0.0

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._live = Live(self._render(Progress(planned=self.planned)),
                              refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, p: Progress) -> None:
        now = time.monotonic()
        dt = now - self._last_t
        if dt > 0 and p.snaps >= self._last_snaps:
            self._rate = (p.snaps - self._last_snaps) / dt
        self._last_snaps, self._last_t = p.snaps, now
        if self._live is not None:
            self._live.update(self._render(p))

    def _render(self, p: Progress) -> Table:
        t = Table(title="arena load test", show_header=True)
        for col in ("phase", "elapsed s", "bots", "snapshots/s", "errors", "ack p99 ms",
                    "rtt p99 ms"):
            t.add_column(col)
        phase = "measuring" if p.measuring else "connecting"
        elapsed = f"{p.elapsed:.0f}/{self.duration:.0f}" if p.measuring else f"{p.elapsed:.0f}"
        t.add_row(phase, elapsed, f"{p.connected}/{p.planned or self.planned}",
                  f"{self._rate:,.0f}", str(p.errors), _fmt(p.ack_p99), _fmt(p.rtt_p99))
        return t


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def summary_table(report: dict[str, Any], title: str = "load test summary") -> Table:
    """The report as a two-column rich table."""
    t = Table(title=title)
    t.add_column("figure")
    t.add_column("value", justify="right")
    for key, value in report.items():
        if isinstance(value, dict) and key != "errors":
            value = ", ".join(f"{k}={_fmt_any(v)}" for k, v in value.items()
                              if not isinstance(v, list))
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        t.add_row(key, _fmt_any(value))
    return t


def _fmt_any(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt_any(x)}" for k, x in v.items())
    return str(v)


def print_summary(report: dict[str, Any], quiet: bool) -> None:
    """Print the summary table (to stderr when stdout is piped), unless quiet."""
    if quiet:
        return
    console = Console(file=sys.stdout if sys.stdout.isatty() else sys.stderr)
    console.print(summary_table(report))
