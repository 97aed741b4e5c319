"""End to end: a short match on a live server, then ratings, leaderboard and notifications.

Embedded (no Redis): the task consumers run inside the daphne process.
Redis: they run in a separate `manage.py runworker arena-tasks` process.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.players import Player, join
from tests.servers import ROOT, LiveServer, RedisServer, http_json, migrate, server_env

pytestmark = pytest.mark.live

SHORT_MATCH = {"MATCH_SECONDS": "2", "COUNTDOWN_SECONDS": "0.5"}


@pytest.fixture(params=["embedded", "redis"])
def deployment(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    workdir = Path(tempfile.mkdtemp(prefix="arena-ratings-"))
    overrides = dict(SHORT_MATCH)
    redis: RedisServer | None = None
    worker: subprocess.Popen[bytes] | None = None
    if request.param == "redis":
        redis = RedisServer.start()
        overrides["REDIS_URL"] = redis.url
    env = server_env(workdir / "db.sqlite3", overrides)
    migrate(env)
    server = LiveServer(env=env)
    try:
        server.start()
        if redis is not None:
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "runworker", "arena-tasks"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )
        yield server
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(10)
        server.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def play_until_ended(players: list[Player], timeout: float = 30) -> None:
    """Read frames (as a client must) until every player saw the match end."""
    seen = {p.user_id: False for p in players}

    async def read(player: Player) -> None:
        deadline = time.monotonic() + timeout
        while not seen[player.user_id]:
            assert time.monotonic() < deadline, "the match did not end in time"
            frame = await player.frame()
            if frame.get("t") == "snap" and player.state is not None:
                seen[player.user_id] = player.state.get("phase") == "ended"

    await asyncio.gather(*(read(p) for p in players))


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


async def test_two_players_finish_a_short_match_and_get_rated(deployment: LiveServer) -> None:
    ann = await join(deployment, "rated-1", "ann")
    bob = await join(deployment, "rated-1", "bob")
    await play_until_ended([ann, bob])

    def board() -> Any:
        status, body = http_json("GET", f"{deployment.url}/api/leaderboard?by=rating")
        assert status == 200, body
        ids = {p["user"]["id"] for p in body["players"]}
        return body if {ann.user_id, bob.user_id} <= ids else None

    body = await asyncio.to_thread(wait_for, board, 15, "both players on the rating board")
    assert body["by"] == "rating"
    ratings = [p["rating"] for p in body["players"]]
    assert ratings == sorted(ratings, reverse=True)
    assert all(p["matches"] == 1 for p in body["players"])
    assert all(r != 0.0 for r in ratings)  # rated: sigma shrank (idle players tie for 1st)
    for player in (ann, bob):
        status, notes = http_json("GET", f"{deployment.url}/api/notifications",
                                  token=player.token)
        assert status == 200
        results = [n for n in notes["notifications"] if n["kind"] == "match_result"]
        assert len(results) == 1, notes
        mine = next(p for p in body["players"] if p["user"]["id"] == player.user_id)
        assert results[0]["data"]["rating"] == mine["rating"]
        assert results[0]["data"]["room"] == "rated-1"
    await ann.ws.close()
    await bob.ws.close()


def test_an_embedded_server_runs_a_backlog_left_by_an_earlier_run() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="arena-backlog-"))
    env = server_env(workdir / "db.sqlite3", {"TASK_TEST_HOOKS": "true"})
    migrate(env)

    def ctl(*args: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "tests.lobby.taskctl", *args], cwd=ROOT,
                              env=env, capture_output=True, timeout=120, check=True)
        return json.loads(done.stdout.decode().strip().splitlines()[-1])

    # Committed, never sent: the server that wrote them stopped before sending.
    ctl("enqueue", "test.record", "30", '{"key": "e{i}"}', "--no-send")
    server = LiveServer(env=env).start()  # its first request starts the embedded worker
    try:
        def done() -> bool:
            tasks = ctl("stats")["tasks"]
            return all(t["status"] == "done" for t in tasks)

        wait_for(done, 30, "the backlog to be done by the server process")
        assert set(ctl("stats")["counts"].values()) == {"1"}
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
