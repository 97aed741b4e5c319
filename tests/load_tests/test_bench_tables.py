"""The bench's generated tables: failed runs are shown, docs blocks are replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from load_tests.bench import (
    PADDLE_RUNS,
    cpu_us_per_snapshot,
    lobby_table,
    recording_medians,
    render_recording,
    render_tables,
    update_docs,
)
from load_tests.lobby_burst import server_batches


def _report(delivery: float, p99: float, cpu: float, received: int) -> dict[str, object]:
    return {
        "ccu": 10, "rooms": 1, "duration_s": 5.0, "connect_s": 0.1, "connect_failures": 0,
        "snaps_expected": 1000.0, "snaps_received": received, "delivery_ratio": delivery,
        "ack_latency_ms": {"p50": 25.0, "p95": 40.0, "p99": p99},
        "rtt_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
        "snap_interval_ms": {"p50": 50.0, "p99": 60.0, "max": 70.0},
        "bytes_per_snapshot": 100.0, "errors": {}, "bot_cpu_s": 0.5,
        "server": {"urls": [], "metrics": True, "tick_ms": {"p50": 0.1, "p99": 0.2, "count": 9},
                   "cpu_s": None, "proc_cpu_s": cpu},
    }


def test_ratios_against_reference_and_failed_runs() -> None:
    results: dict[str, Any] = {
        "machine": {"date": "d", "cpu_model": "cpu", "cores": 2, "python": "3.11",
                    "git_commit": None},
        "workload": {"rooms": 1, "players_per_room": 10, "duration": 5.0},
        "runs": {
            "reference": {"ok": True, "report": _report(1.0, 50.0, 1.0, 1000)},
            "project": {"ok": True, "report": _report(0.5, 100.0, 1.0, 500)},
            "textbook": {"ok": False, "error": "RuntimeError: server exited\ntrace",
                         "report": None},
            "redis": {"ok": True, "report": _report(0.5, 100.0, 1.5, 500)},
        },
        "engine": {"ok": False, "error": "skipped: missing"},
        "lobby": None,
    }
    blocks = render_tables(results)
    game = blocks["game"]
    assert "| project | 0.50× | 2.00× | 2.00× | 1.00× |" in game
    # Split rooms (two processes) against the same rooms on one process, side by side.
    assert "| redis | 0.50× | 2.00× | 3.00× | 1.50× |" in game
    assert "`redis` splits every room across two processes" in game
    assert "| textbook | failed | – | – | – |" in game
    assert "failed: RuntimeError: server exited |" in game
    assert "skipped: missing" in blocks["engine"]
    assert "not run" in blocks["lobby"]
    assert cpu_us_per_snapshot(results["runs"]["reference"]["report"]) == 1000.0


def test_update_docs_replaces_only_marked_blocks(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    doc.write_text("# T\nkeep\n<!-- bench:game:start -->\nold\n<!-- bench:game:end -->\ntail\n")
    update_docs(doc, {"game": "new table", "lobby": "absent block"})
    assert doc.read_text() == (
        "# T\nkeep\n<!-- bench:game:start -->\nnew table\n<!-- bench:game:end -->\ntail\n")


def test_paddle_rows_beside_the_arena_rows(tmp_path: Path) -> None:
    machine = {"date": "d", "cpu_model": "cpu", "cores": 2, "python": "3.11",
               "git_commit": "abc"}
    arena = {"reference": {"ok": True, "report": _report(1.0, 50.0, 1.0, 1000)},
             "project": {"ok": True, "report": _report(0.5, 100.0, 1.0, 500)}}
    results: dict[str, Any] = {
        "machine": machine,
        "workload": {"rooms": 1, "players_per_room": 10, "duration": 5.0, "tick_rate": 20},
        "runs": arena,
        "engine": None,
        "lobby": None,
        "paddle": {
            "workload": {"game": "paddle", "rooms": 20, "players_per_room": 4,
                         "duration": 20.0, "tick_rate": 60, "snapshot_rate": 30,
                         "input_rate": 30.0},
            "runs": {
                "reference": {"ok": True, "report": _report(1.0, 40.0, 2.0, 1000)},
                "project": {"ok": False, "report": {"ccu": 0},
                            "error": "no bot was welcomed into a paddle room "
                                     "(welcome_without_game: 80)"},
            },
        },
    }
    before = render_tables({k: v for k, v in results.items() if k != "paddle"})
    blocks = render_tables(results)
    assert blocks == before  # the arena blocks do not change
    paddle = render_tables({**results, **results["paddle"]}, PADDLE_RUNS)["game"]
    assert ("Workload: paddle, 20 rooms × 4 players, 60 Hz ticks, 30 Hz snapshots, inputs "
            "at 30 Hz, for 20.0 s.") in paddle
    assert "| reference | 1.00× | 1.00× | 1.00× |" in paddle
    assert "| project | failed | – | – |" in paddle
    assert ("| project | failed: no bot was welcomed into a paddle room "
            "(welcome_without_game: 80) |") in paddle
    assert "| reference | 10 | 100.0 % | 25.0 / 40.0 |" in paddle
    assert "textbook" not in paddle and "redis" not in paddle
    doc = tmp_path / "b.md"
    doc.write_text("<!-- bench:game:start -->\nx\n<!-- bench:game:end -->\n"
                   "<!-- bench:paddle:start -->\nold\n<!-- bench:paddle:end -->\n")
    update_docs(doc, {**blocks, "paddle": paddle})
    text = doc.read_text()
    assert "Workload: 1 rooms × 10 players at 20 Hz for 5.0 s." in text
    assert "Workload: paddle, 20 rooms" in text and "old" not in text


def _burst(p99: float, delivered: int) -> dict[str, Any]:
    return {"clients": 200, "messages": 2000, "expected_deliveries": 400000,
            "delivered": delivered, "lost": 400000 - delivered, "messages_fully_delivered": 2000,
            "latency_ms": {"p50": 300.0, "p99": p99, "max": 900.0}, "send_s": 0.2,
            "deliver_s": 1.5, "stored": 2000, "missing_from_history": 0, "server_cpu_s": 1.2,
            "reader_cpu_s": 0.8, "server_batches": {"batches": 20, "messages_per_batch": 100.0},
            "errors": {}}


def test_lobby_rows_per_database_and_the_old_single_record() -> None:
    both = lobby_table({
        "sqlite": {"ok": True, "error": None, "report": _burst(800.0, 400000)},
        "postgresql": {"ok": False, "error": "RuntimeError: migrate failed\nmore"},
    })
    lines = both.splitlines()
    assert lines[2].startswith("| sqlite | 200 | 2000 | 400000 / 400000 | 300.0 / 800.0 / 900.0 |")
    assert "| 2000 / 2000 | 1.20 | 0.80 | 20 (100.0) | none |" in lines[2]
    assert lines[3].startswith("| postgresql | failed: RuntimeError: migrate failed |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    # results.json written before the PostgreSQL row: one record, shown as SQLite's.
    old = lobby_table({"ok": True, "error": None, "report": _burst(9000.0, 399000)})
    assert "| sqlite | 200 | 2000 | 399000 / 400000 | 300.0 / 9,000.0 / 900.0 |" in old
    assert lobby_table(None) == "Not measured: not run."


def test_the_burst_reads_the_servers_batches_from_metrics() -> None:
    page = ("# HELP arena_chat_batch_messages x\n"
            'arena_chat_batch_messages_bucket{le="100.0"} 20.0\n'
            "arena_chat_batch_messages_count 20.0\narena_chat_batch_messages_sum 2000.0\n")
    assert server_batches(page) == (20.0, 2000.0)
    assert server_batches("process_cpu_seconds_total 1.0\n") is None


def test_recording_block_shows_every_run_in_turn_and_the_ratio_of_the_medians() -> None:
    off = [_report(0.90, 200.0, 9.0, 900), _report(0.96, 180.0, 9.6, 960),
           _report(0.94, 190.0, 9.4, 940)]
    on = [_report(0.95, 150.0, 9.5, 950), _report(0.93, 170.0, 9.3, 930),
          _report(0.97, 160.0, 9.7, 970)]
    runs = [{"name": "project-norec", "ok": True, "report": off[0]},
            {"name": "project", "ok": True, "report": on[0]},
            {"name": "project", "ok": True, "report": on[1]},
            {"name": "project-norec", "ok": True, "report": off[1]},
            {"name": "project-norec", "ok": False, "error": "TimeoutError: x", "report": None},
            {"name": "project", "ok": True, "report": on[2]}]
    text = render_recording({"recording": {
        "workload": {"rooms": 1, "players_per_room": 10, "duration": 5.0},
        "runs": runs,
        "medians": recording_medians(runs)}})
    rows = [line for line in text.splitlines() if line[2:3].isdigit()]
    assert [r.split(" | ")[1] for r in rows[:6]] == [r["name"] for r in runs]
    assert "| 5 | project-norec | failed: TimeoutError: x |" in text
    # Medians of the good runs: off 93 % / 190 ms (two), on 95 % / 160 ms (three).
    assert "| recording off | 93.00 % | 190.0 | 10,000.0 |" in text
    assert "| on / off | 1.02× | 0.84× | 1.00× |" in text
