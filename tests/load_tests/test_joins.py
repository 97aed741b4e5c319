"""The join storm (load_tests/joins.py) against real servers, and its bench table."""

from __future__ import annotations

import pytest

from load_tests.bench import render_joins
from load_tests.joins import join_storm
from tests.load_tests.conftest import StartRef
from tests.servers import LiveServer


async def test_a_storm_against_the_project_counts_sessions_and_welcomes(
        daphne_server: LiveServer) -> None:
    report = await join_storm(daphne_server.url, count=6, concurrency=3, players_per_room=4,
                              prefix="storm", server_pid=daphne_server.process.pid
                              if daphne_server.process else None)
    assert report["errors"] == {}
    sessions, sockets = report["sessions"], report["sockets"]
    assert sessions["applies"] and sessions["ok"] == 6 and sessions["per_s"] > 0
    assert sockets["planned"] == 6 and sockets["welcomed"] == 6 and sockets["per_s"] > 0
    assert sessions["server_cpu_ms_each"] is not None and sockets["server_cpu_ms_each"] > 0


async def test_a_storm_against_a_server_without_sessions_still_times_its_sockets(
        reference_server: StartRef) -> None:
    url = await reference_server()
    report = await join_storm(url, count=5, concurrency=5, prefix="storm")
    assert report["sessions"] == {"applies": False}
    assert report["sockets"]["welcomed"] == 5, report["errors"]


@pytest.mark.parametrize(("count", "concurrency", "per_room"), [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
async def test_a_storm_of_no_size_is_refused_before_any_request(
        count: int, concurrency: int, per_room: int) -> None:
    with pytest.raises(ValueError):
        await join_storm("http://127.0.0.1:9", count, concurrency, per_room)


def test_the_joins_table_shows_each_server_and_the_ramp_of_its_game_run() -> None:
    storm = {"applies": True, "planned": 10, "ok": 10, "elapsed_s": 0.5, "per_s": 20.0,
             "latency_ms": {"p50": 5.0, "p99": 9.0}, "server_cpu_ms_each": 1.5}
    sockets = {"planned": 10, "welcomed": 10, "elapsed_s": 0.25, "per_s": 40.0,
               "latency_ms": {"p50": 3.0, "p99": 4.0}, "server_cpu_ms_each": 0.75}
    results = {
        "workload": {"rooms": 50, "players_per_room": 20},
        "runs": {"project": {"ok": True, "report": {"connect_s": 7.5, "ccu": 1000}}},
        "joins": {"count": 10, "concurrency": 5, "runs": {
            "reference": {"ok": True, "report": {
                "sessions": {"applies": False}, "sockets": sockets, "errors": {}}},
            "project": {"ok": True, "report": {
                "sessions": storm, "sockets": sockets, "errors": {"close_4003": 1}}},
            "project-pg": {"ok": False, "error": "skipped: DATABASE_URL names no PostgreSQL "
                           "database", "report": None},
        }},
    }
    table = render_joins(results)
    assert "| reference | n/a | – | – | 40.0 | 3.0 / 4.0 | 0.75 | – | none |" in table
    assert ("| project | 20.0 | 5.0 / 9.0 | 1.50 | 40.0 | 3.0 / 4.0 | 0.75 "
            "| 7.5 (1000 welcomed) | close_4003: 1 |") in table
    assert "| project-pg | skipped: DATABASE_URL names no PostgreSQL database |" in table
    assert "all 1000 bots connected in s" in table
    assert render_joins({"runs": {}}) == "Not measured: not run."
