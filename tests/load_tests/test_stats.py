"""The report math: percentiles, delivery accounting, merging, Prometheus parsing."""

from __future__ import annotations

import math

import pytest

from load_tests.metrics import histogram_quantile, parse_prometheus, server_figures
from load_tests.stats import REPORT_KEYS, BotRecord, Measurements, build_report, percentile


def test_percentile_interpolates_linearly() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile(list(range(101)), 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_percentile_rejects_out_of_range_q() -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_connected_seconds_clip_to_window() -> None:
    b = BotRecord(snapshot_rate=20, intervals=[(0.0, 3.0), (4.0, None)])
    assert b.connected_seconds(1.0, 10.0) == pytest.approx(2.0 + 6.0)
    assert b.connected_seconds(3.0, 4.0) == 0.0


def _measurements(t0: float, received: int, acks: list[float]) -> Measurements:
    m = Measurements(t0=t0, t1=t0 + 10.0, bots_planned=1, bots_welcomed=1)
    m.bots.append(BotRecord(snapshot_rate=20, intervals=[(t0 - 1.0, None)]))
    m.rooms.add("r")
    for i in range(received):
        m.count_snapshot(t0 + i * 0.05, 100)
    for i, a in enumerate(acks):
        m.ack_t.append(i * 0.1)
        m.ack_ms.append(a)
    m.errors["close_1006"] += 1
    return m


def test_report_has_exactly_the_keys_and_the_ratios() -> None:
    m = _measurements(100.0, 180, [10.0, 20.0, 30.0, 40.0])
    r = build_report(m, None)
    assert tuple(r) == REPORT_KEYS
    assert r["snaps_expected"] == 200.0
    assert r["snaps_received"] == 180
    assert r["delivery_ratio"] == 0.9
    assert r["ack_latency_ms"] == {"p50": 25.0, "p95": 38.5, "p99": 39.7}
    assert r["bytes_per_snapshot"] == 100.0
    assert r["errors"] == {"close_1006": 1}
    assert r["rtt_ms"] == {"p50": None, "p95": None, "p99": None}
    assert r["server"] is None


def test_merge_adds_counts_and_rebases_times() -> None:
    a = _measurements(100.0, 100, [10.0])
    b = _measurements(100.5, 100, [30.0])
    a.merge(b)
    assert a.snaps_received == 200
    assert a.bots_planned == 2
    assert len(a.bots) == 2
    assert sorted(a.ack_ms) == [10.0, 30.0]
    assert list(a.ack_t) == [0.0, 0.5]
    assert a.errors["close_1006"] == 2
    assert sum(a.recv_per_s) == 200


def test_timeseries_delivery_per_second() -> None:
    m = _measurements(0.0, 100, [5.0, 6.0])
    ts = m.timeseries()
    assert len(ts["second"]) == 10
    assert ts["delivery"][0] == pytest.approx(1.0)
    assert ts["delivery"][9] == 0.0
    assert ts["ack_p50_ms"][0] == pytest.approx(5.5)


PROM = """\
# HELP arena_tick_duration_seconds x
# TYPE arena_tick_duration_seconds histogram
arena_tick_duration_seconds_bucket{le="0.001"} 50.0
arena_tick_duration_seconds_bucket{le="0.01"} 90.0
arena_tick_duration_seconds_bucket{le="+Inf"} 100.0
arena_tick_duration_seconds_count 100.0
arena_tick_duration_seconds_sum 0.4
process_cpu_seconds_total 12.5
"""


def test_prometheus_parse_and_quantiles() -> None:
    s = parse_prometheus(PROM)
    assert s.cpu_s == 12.5
    assert s.buckets == {0.001: 50.0, 0.01: 90.0, math.inf: 100.0}
    assert histogram_quantile(0.5, s.buckets) == pytest.approx(0.001)
    assert histogram_quantile(0.7, s.buckets) == pytest.approx(0.0055)
    assert histogram_quantile(0.99, s.buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.5, {}) is None


def test_server_figures_are_differences() -> None:
    before = parse_prometheus(PROM)
    after = parse_prometheus(PROM.replace("12.5", "14.0").replace("} 50.0", "} 150.0")
                             .replace("} 90.0", "} 190.0").replace("} 100.0", "} 200.0"))
    fig = server_figures(before, after, 1.25, ["http://x"])
    assert fig is not None
    assert fig["cpu_s"] == 1.5
    assert fig["proc_cpu_s"] == 1.25
    assert fig["tick_ms"]["p50"] == pytest.approx(0.5)
    assert server_figures(None, None, None, []) is None
