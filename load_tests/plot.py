"""The run's PNG: latency and delivery over time, and a latency histogram.

Three panels (see docs/load-testing.md "Reading the plot"):

1. per-second ack latency p50 and p99 and ping RTT p99 (ms);
2. per-second delivery ratio (snapshots received / expected in that second);
3. histogram of every ack latency and RTT sample (log-scaled count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from load_tests.stats import Measurements


def write_plot(m: Measurements, report: dict[str, Any], path: str | Path,
               title: str | None = None) -> Path:
    """Render the three panels to ``path`` (PNG) and return it."""
    ts = m.timeseries()
    seconds = ts["second"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 10), constrained_layout=True)
    ax1, ax2, ax3 = axes
    head = title or (f"{report.get('ccu')} bots in {report.get('rooms')} rooms, "
                     f"delivery {report.get('delivery_ratio')}")
    fig.suptitle(head)

    def series(key: str) -> list[float]:
        return [float("nan") if v is None else v for v in ts[key]]

    ax1.plot(seconds, series("ack_p50_ms"), label="ack p50")
    ax1.plot(seconds, series("ack_p99_ms"), label="ack p99")
    ax1.plot(seconds, series("rtt_p99_ms"), label="rtt p99", linestyle="--")
    ax1.set_ylabel("ms")
    ax1.set_xlabel("second of the window")
    ax1.set_title("latency over time")
    ax1.legend(loc="upper right")
    ax1.grid(True, alpha=0.3)

    ax2.plot(seconds, series("delivery"), color="tab:green")
    ax2.axhline(1.0, color="grey", linewidth=0.8)
    ax2.set_ylim(bottom=0.0, top=max(1.05, max((v for v in series("delivery") if v == v),
                                               default=1.0) + 0.05))
    ax2.set_ylabel("received / expected")
    ax2.set_xlabel("second of the window")
    ax2.set_title("snapshot delivery over time")
    ax2.grid(True, alpha=0.3)

    ack = list(m.ack_ms)
    rtt = list(m.rtt_ms)
    if ack:
        ax3.hist(ack, bins=60, alpha=0.7, label=f"ack latency (n={len(ack)})")
    if rtt:
        ax3.hist(rtt, bins=60, alpha=0.7, label=f"rtt (n={len(rtt)})")
    if ack or rtt:
        ax3.set_yscale("log")
        ax3.legend(loc="upper right")
    ax3.set_xlabel("ms")
    ax3.set_ylabel("samples")
    ax3.set_title("latency histogram")
    ax3.grid(True, alpha=0.3)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=90)
    plt.close(fig)
    return out
