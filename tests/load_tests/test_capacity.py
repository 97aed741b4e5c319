"""The capacity model: its arithmetic from fixed figures, the page's markers, the CLI."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from load_tests.capacity import (
    Assumptions,
    check,
    figures,
    fit_memory,
    model,
    needs,
    parse_redis_benchmark_csv,
    parse_ss,
    render,
    sizes_from_args,
    warnings,
)
from load_tests.cli import build_parser, main
from load_tests.db_writes import classify

ROOT = Path(__file__).resolve().parents[2]

FIG: dict[str, Any] = {
    "cpu_s_per_player_s": 0.001,  # 700 players per core at 70 %
    "rss_base_bytes": 100 * 2**20,
    "rss_per_room_bytes": 200 * 1024,
    "rss_per_player_bytes": 50 * 1024,
    "bytes_out_per_player_s": 5_000.0,
    "bytes_in_per_player_s": 1_500.0,
    "redis_layer_ops_per_room_tick": 0.01,
    "redis_other_ops_per_room_tick": 0.2,
    "redis_ops_per_s_per_core": 100_000.0,
    "db_writes_per_session": 9.0,
    "db_writes_per_join": 6.0,
    "db_writes_per_chat": 1.0,
}
ASM = Assumptions()


def test_doubling_cpu_per_player_doubles_the_processes() -> None:
    one = needs(FIG, ASM, 100_000)
    two = needs({**FIG, "cpu_s_per_player_s": 0.002}, ASM, 100_000)
    assert one["processes"] == math.ceil(100_000 / 700)
    assert two["processes"] == math.ceil(100_000 / 350)
    assert two["cpu_cores_busy"] == pytest.approx(2 * one["cpu_cores_busy"])


def test_memory_decides_the_processes_when_it_runs_out_first() -> None:
    heavy = {**FIG, "rss_per_player_bytes": 20 * 2**20}  # 20 MiB a player: ~200 per 4 GiB
    out = needs(heavy, ASM, 10_000)
    assert out["processes_by_memory"] > out["processes_by_cpu"]
    assert out["processes"] == out["processes_by_memory"]
    assert model(heavy, ASM)["first_bottleneck"] == "memory"


def test_first_bottleneck_is_the_resource_that_saturates_first() -> None:
    assert model(FIG, ASM)["first_bottleneck"] == "cpu"
    # A database that takes 10 writes/s: 9/1800 + 6/200 + 1/60 writes per
    # player-second saturate it at ~135 players, before a core (700).
    slow_db = replace(ASM, db_writes_per_s=10.0)
    m = model(FIG, slow_db)
    assert m["first_bottleneck"] == "database"
    assert m["ranking"][:2] == ["database", "cpu"]
    ppu = m["players_per_unit"]
    assert ppu["database"] == pytest.approx(10.0 * 0.7 / (9 / 1800 + 6 / 200 + 1 / 60))
    out = needs(FIG, ASM, 10_000)
    assert out["db_writes_s"] == pytest.approx(10_000 * (9 / 1800 + 6 / 200 + 1 / 60))
    doubled = needs({**FIG, "db_writes_per_chat": 2.0}, ASM, 10_000)
    assert doubled["db_writes_s"] - out["db_writes_s"] == pytest.approx(10_000 / 60)
    # Cheap CPU: a shared service saturates first, and it is named as the shared one too.
    cheap = {**FIG, "cpu_s_per_player_s": 1e-7, "rss_per_player_bytes": 1024}
    m = model(cheap, ASM)
    assert m["first_bottleneck"] == m["first_shared_bottleneck"] == "database"


def test_redis_first_url_carries_leases_and_its_share_of_the_layer() -> None:
    out = needs(FIG, ASM, 100_000)
    rooms = 5_000
    assert out["rooms"] == rooms
    first, layer = rooms * 20 * 0.2, rooms * 20 * 0.01
    assert out["redis_ops_s"] == pytest.approx(first + layer)
    budget = 100_000 * 0.5
    assert out["redis_first_load"] == pytest.approx(first / budget)
    assert out["redis_shards"] == max(1, math.ceil(layer / (budget - first)))
    # Leases alone beyond one core: no number of shards helps, and the page says so.
    leases = {**FIG, "redis_other_ops_per_room_tick": 1.0}
    assert needs(leases, ASM, 100_000)["redis_shards"] is None
    results = {"figures": leases, "assumptions": {}, "runs": {}, "machine": {}, "sizes": {}}
    assert "more than one core for leases alone" in render(results)["model"]


def test_unmeasured_figures_drop_out_of_the_ranking() -> None:
    partial = {**FIG, "redis_ops_per_s_per_core": None, "db_writes_per_join": None}
    m = model(partial, ASM)
    assert "database" not in m["ranking"] and "redis_shard" not in m["ranking"]
    assert m["targets"]["10000"]["redis_shards"] is None
    assert m["targets"]["10000"]["db_writes_s"] is None


def test_memory_fit_recovers_per_room_and_per_player() -> None:
    room, player = 300_000.0, 40_000.0
    points = [(r, p, r * room + p * player) for r, p in ((10, 200), (40, 80), (5, 5))]
    per_room, per_player = fit_memory(points)
    assert per_room == pytest.approx(room)
    assert per_player == pytest.approx(player)
    assert fit_memory(points[:1]) == (None, None)
    assert fit_memory([(1, 2, 10.0), (2, 4, 20.0)]) == (None, None)  # one shape twice
    # Noise that would make rooms negative: rooms 0, players refitted alone.
    assert fit_memory([(10, 100, 1000.0), (20, 100, 900.0)])[0] == 0.0


def test_figures_from_runs() -> None:
    runs: dict[str, Any] = {
        "steady": {"ok": True, "report": {
            "players": 200, "rooms": 10, "duration_s": 10.0, "cpu_s": 4.0, "sample_s": 8.0,
            "rss_base_bytes": 1000, "rss_bytes": 1000 + 10 * 300 + 200 * 40,
            "tcp": {"bytes_acked": 1_600_000, "bytes_received": 160_000, "segs_out": 0,
                    "segs_in": 1000}}},
        "shape": {"ok": True, "report": {
            "players": 80, "rooms": 40, "duration_s": 10.0, "cpu_s": 2.0, "sample_s": 8.0,
            "rss_base_bytes": 1000, "rss_bytes": 1000 + 40 * 300 + 80 * 40, "tcp": None}},
        "redis": {"ok": True, "report": {"rooms": 10, "sample_s": 5.0, "commands": {
            "publish": 10, "evalsha": 400, "pexpire": 100}}},
        "redis_benchmark": {"ok": True, "report": {"ops_per_s": 80_000.0}},
        "db": {"ok": True, "report": {
            "guest_session": {"write": 2.0}, "first_join": {"write": 21.0},
            "join": {"write": 1.0}, "leave": {"write": 1.0}, "chat_message": {"write": 1.0},
            "lobby_connect": {"write": 2.0}}},
    }
    fig = figures(runs, ASM)
    assert fig["cpu_s_per_player_s"] == pytest.approx(4.0 / 2000)
    assert fig["bytes_out_per_player_s"] == pytest.approx(1_600_000 / 1600)
    assert fig["bytes_in_per_player_s"] == pytest.approx((160_000 + 52_000) / 1600)
    assert fig["rss_per_room_bytes"] == pytest.approx(300)
    assert fig["rss_per_player_bytes"] == pytest.approx(40)
    assert fig["redis_layer_ops_per_room_tick"] == pytest.approx(10 / 1000)
    assert fig["redis_other_ops_per_room_tick"] == pytest.approx(500 / 1000)
    assert fig["redis_ops_per_s_per_core"] == 80_000.0
    # guest session 2 + lobby socket 2; a join: (21 + 19 × 1) / 20 + leave 1
    assert fig["db_writes_per_session"] == pytest.approx(4)
    assert fig["db_writes_per_join"] == pytest.approx(2 + 1)
    assert fig["db_writes_per_chat"] == 1.0
    # A failed run gives no figure rather than a wrong one.
    runs["steady"] = {"ok": False, "error": "boom", "report": None}
    assert figures(runs, ASM)["cpu_s_per_player_s"] is None


def test_check_predicts_the_two_process_cpu() -> None:
    out = check(FIG, {"players": 400, "rooms": 20, "duration_s": 10.0, "cpu_s": 5.0})
    assert out is not None
    assert out["predicted_cpu_s"] == pytest.approx(4.0)
    assert out["error"] == pytest.approx(0.25)
    assert check(FIG, None) is None
    assert check(FIG, {"players": 0, "duration_s": 10.0, "cpu_s": 1.0}) is None


def test_parsers_of_ss_and_redis_benchmark() -> None:
    ss = ("0 0 127.0.0.1:8001 127.0.0.1:50000\n\t cubic bytes_sent:120 bytes_acked:100 "
          "bytes_received:50 segs_out:3 segs_in:2 send 1bps\n"
          "0 0 127.0.0.1:8001 127.0.0.1:50001\n\t cubic bytes_acked:10 segs_out:1 segs_in:1\n")
    assert parse_ss(ss) == {"bytes_acked": 110, "bytes_received": 50, "segs_out": 4,
                            "segs_in": 3}
    csv = ('"test","rps","avg_latency_ms"\n"SET","81234.50","0.3"\n"GET","90000.00","0.2"\n'
           '"publish capacity-benchmark x","70000.00","0.4"\n')
    assert parse_redis_benchmark_csv(csv) == {"SET": 81234.5, "GET": 90000.0,
                                             "publish capacity-benchmark x": 70000.0}


def test_statements_are_classified_by_their_first_keyword() -> None:
    assert classify('INSERT INTO "lobby_user" ...') == "write"
    assert classify("  update x set y = 1") == "write"
    assert classify('DELETE FROM "t"') == "write"
    assert classify('SELECT 1') == "read"
    assert classify('SAVEPOINT "s1"') == "other"
    assert classify("") == "other"


def _results() -> dict[str, Any]:
    return {"machine": {"date": "d", "cpu_model": "cpu", "cores": 2, "python": "3.11",
                        "git_commit": "0123456789abcdef"},
            "quick": True, "sizes": {"rooms": 2, "players_per_room": 20, "duration": 5.0},
            "assumptions": {}, "figures": FIG,
            "runs": {"redis": {"ok": True, "report": {
                "players": 40, "rooms": 2, "duration_s": 5.0, "cpu_s": 0.3,
                "delivery_ratio": 1.0}}}}


def test_the_page_keeps_its_prose_across_rerenders(tmp_path: Path) -> None:
    doc = tmp_path / "capacity.md"
    original = (ROOT / "docs" / "capacity.md").read_text()
    doc.write_text(original)
    out = tmp_path / "capacity.json"
    out.write_text(json.dumps(_results()))
    assert main(["capacity", "--render-only", "--out", str(out), "--docs", str(doc),
                 "--quiet"]) == 0
    first = doc.read_text()
    assert "commit `0123456789ab`" in first
    assert "**First bottleneck:** process CPU (one core each), at 700 players" in first
    assert "the model predicts 0.20 CPU-s" in first and "+50 %" in first
    generated = re.compile(r"<!-- capacity:(\w+):start -->.*?<!-- capacity:\1:end -->", re.S)
    prose = generated.sub("", original)
    assert "## What it measures" in prose
    for line in prose.splitlines():
        assert line in first.splitlines()
    for name in ("model", "figures", "check"):
        assert first.count(f"<!-- capacity:{name}:start -->") == 1
        assert first.count(f"<!-- capacity:{name}:end -->") == 1
    assert main(["capacity", "--render-only", "--out", str(out), "--docs", str(doc),
                 "--quiet"]) == 0
    assert doc.read_text() == first
    # An assumption changed on the command line is recorded and used.
    assert main(["capacity", "--render-only", "--out", str(out), "--docs", str(doc),
                 "--quiet", "--db-writes-per-s", "10"]) == 0
    assert json.loads(out.read_text())["assumptions"]["db_writes_per_s"] == 10.0
    assert "**First bottleneck:** database primary (writes)" in doc.read_text()


def test_the_cli_parses_capacity_and_refuses_bad_values(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    a = build_parser().parse_args(["capacity", "--quick", "--chat-interval-s", "30",
                                   "--players-per-room", "10"])
    assert a.cmd == "capacity" and a.quick and a.chat_interval_s == 30.0
    assert a.players_per_room == 10 and a.out == Path("bench/capacity.json")
    assert a.docs == Path("docs/capacity.md")
    missing = tmp_path / "none.json"
    assert main(["capacity", "--render-only", "--out", str(missing), "--quiet"]) == 2
    out = tmp_path / "capacity.json"
    out.write_text(json.dumps(_results()))
    assert main(["capacity", "--render-only", "--out", str(out), "--docs",
                 str(tmp_path / "absent.md"), "--cpu-utilisation", "1.5"]) == 2
    assert "fraction" in capsys.readouterr().err
    assert main(["capacity", "--duration", "1", "--out", str(out)]) == 2
    assert main(["capacity", "--shape-rooms", "0", "--out", str(out)]) == 2
    sized = build_parser().parse_args(["capacity", "--rooms", "3", "--shape-rooms", "7"])
    assert (sizes_from_args(sized).rooms, sizes_from_args(sized).shape_rooms) == (3, 7)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["capacity", "--join-interval-s", "soon"])


def test_runs_the_machine_could_not_carry_are_flagged() -> None:
    results = _results()
    steady = {"planned_players": 200, "players": 60, "rooms": 4, "duration_s": 10.0,
              "cpu_s": 4.0, "delivery_ratio": 0.2, "load_avg_1m": 11.0}
    healthy = {**results["runs"]["redis"]["report"], "planned_players": 40}
    results["runs"] = {"steady": {"ok": True, "report": steady},
                       "redis": {"ok": True, "report": healthy}}
    assert warnings(results["runs"]) == [
        "the steady run connected 60 of 200 players and delivered 20.0 % of their snapshots "
        "(load average 11.0 at its end): the machine could not carry it, its figures are not "
        "a steady state"]
    blocks = render(results)
    assert "**Not a steady state:** the steady run connected 60 of 200" in blocks["figures"]
    assert "Not a steady state" in blocks["check"]
    results["runs"]["steady"]["report"] = {**steady, "players": 200, "delivery_ratio": 0.99}
    assert warnings(results["runs"]) == []
    assert "steady state" not in render(results)["figures"] + render(results)["check"]
