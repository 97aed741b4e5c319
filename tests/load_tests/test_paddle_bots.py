"""Bots play the paddle game against a real reference server process.

The reference server hosts any registered game (``?game=<id>`` picks a new
room's game); bots ask for paddle rooms, decode paddle snapshots through the
game's codec and move their paddles to meet the ball. Short bounded runs on
127.0.0.1.
"""

from __future__ import annotations

import ast
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from load_tests.bot import Swarm, SwarmConfig
from load_tests.policies.paddle import PaddlePlayer
from load_tests.reference_server import Options, hosted_games
from tests.load_tests.conftest import StartRef

ROOT = Path(__file__).resolve().parents[2]


async def _swarm(cfg: SwarmConfig) -> Swarm:
    """Ramp, measure for ``cfg.duration`` s, stop: the swarm with its bots' final state."""
    swarm = Swarm(cfg, range(cfg.total_bots))
    async with asyncio.timeout(cfg.effective_ramp_timeout + cfg.duration + 30):
        await swarm.ramp()
        t0 = time.monotonic()
        swarm.open_window(t0, t0 + cfg.duration)
        await swarm.finish()
    return swarm


async def test_bots_play_paddle_against_the_reference_server(reference_server: StartRef) -> None:
    url = await reference_server()  # the default game is the arena: bots ask for paddle
    cfg = SwarmConfig(urls=[url], game="paddle", rooms=4, players_per_room=2, duration=14.0,
                      spectators=1)
    swarm = await _swarm(cfg)
    m = swarm.m
    # No error frame (an invalid input would be one), close or refusal; a bot
    # stall (this process over 1 s behind on a busy machine) is not the server's.
    assert set(m.errors) <= {"bot_stall"}, m.errors
    assert m.bots_welcomed == 9
    assert len(m.rooms) == 4
    expected = sum(30.0 * 14.0 for b in m.bots)
    assert 0.95 * expected <= m.snaps_received <= 1.01 * expected  # 30 Hz snapshots
    players = [b for b in swarm.bots if not b.spectator]
    moved = 0
    for b in players:
        # Inputs at 30 Hz, every one acknowledged but the last few in flight.
        assert b.seq >= 0.8 * 30 * 14
        assert len(b.pending) <= 15
        # Paddle snapshots decoded (full + deltas through the game's codec).
        assert b.state is not None and b.pid in b.state["paddles"]
        assert b.state["court"] == [16000, 3200, 160]
        player = b.player
        assert isinstance(player, PaddlePlayer)
        assert player.looks >= 14 * 4
        assert player.ball_moves > 0  # the ball moves
        moved += b.state["paddles"][b.pid][0] != 8000
    assert moved >= 1  # paddles are not where they started
    # Someone missed: a point was scored in at least one room.
    assert max(b.player.max_score for b in players) >= 1  # type: ignore[attr-defined]


async def _frames(ws: Any, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        out.append(msgpack.unpackb(await ws.recv(), strict_map_key=False))
    return out


async def test_reference_rooms_play_one_game_each(reference_server: StartRef) -> None:
    url = await reference_server()
    ws_base = url.replace("http://", "ws://") + "/ws/game"
    async with asyncio.timeout(20):
        async with connect(f"{ws_base}/court/?game=paddle") as first:
            welcome, snap = await _frames(first, 2)
            assert welcome["t"] == "welcome"
            assert (welcome["game"], welcome["tick_rate"], welcome["snapshot_rate"]) == (
                "paddle", 60, 30)
            assert snap["full"] and snap["court"] == [16000, 3200, 160]
            # No game named: whatever the room plays.
            async with connect(f"{ws_base}/court/") as second:
                (welcome2,) = await _frames(second, 1)
                assert welcome2["game"] == "paddle"
            # Another game named: refused.
            async with connect(f"{ws_base}/court/?game=arena") as third:
                (err,) = await _frames(third, 1)
                assert (err["t"], err["code"]) == ("error", "wrong_game")
                try:
                    await third.recv()
                except ConnectionClosed as exc:
                    assert exc.rcvd is not None and exc.rcvd.code == 4003
        async with connect(f"{ws_base}/other/?game=chess") as fourth:
            (err,) = await _frames(fourth, 1)
            assert err["code"] == "unknown_game" and "arena, paddle" in err["message"]
            try:
                await fourth.recv()
            except ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 4004
        async with connect(f"{ws_base}/plain/") as arena:
            welcome, snap = await _frames(arena, 2)
            assert (welcome["game"], welcome["tick_rate"], welcome["snapshot_rate"]) == (
                "arena", 20, 20)
            assert "players" in snap


async def test_bots_give_up_on_a_room_of_another_game(reference_server: StartRef) -> None:
    url = await reference_server("--game", "paddle")  # bare room names play paddle here
    cfg = SwarmConfig(urls=[url], rooms=1, players_per_room=2, duration=1.0,
                      ramp_timeout=10.0)  # arena bots
    swarm = await _swarm(cfg)
    assert swarm.m.errors == {"wrong_game_paddle": 2}
    assert swarm.m.bots_welcomed == 0
    assert swarm.m.connect_failures == 2


async def test_a_refused_seat_is_counted_and_final(reference_server: StartRef) -> None:
    url = await reference_server()
    cfg = SwarmConfig(urls=[url], game="paddle", rooms=1, players_per_room=5, duration=1.0,
                      ramp_timeout=10.0)  # the paddle game seats 4
    swarm = await _swarm(cfg)
    assert swarm.m.errors == {"error_room_full": 1}
    assert swarm.m.bots_welcomed == 4
    assert swarm.m.connect_failures == 1


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    async with asyncio.timeout(60):
        _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_unknown_game_is_a_usage_error() -> None:
    code, err = await _cli("load_tests", "run", "--url", "http://127.0.0.1:9", "--game", "chess")
    assert code == 2
    assert "--game: unknown game 'chess'; the registry has arena, paddle" in err
    code, err = await _cli("load_tests.reference_server", "--port", "0", "--game", "chess")
    assert code == 2
    assert "unknown game 'chess'" in err
    # A game the overrides do not fit is refused too (paddle seats at most 4).
    code, err = await _cli("load_tests.reference_server", "--port", "0", "--game", "paddle",
                           "--max-players", "20")
    assert code == 2
    assert "max_players" in err


async def test_cli_runs_paddle_bots(reference_server: StartRef, tmp_path: Path) -> None:
    url = await reference_server()
    out = tmp_path / "paddle.json"
    code, err = await _cli("load_tests", "run", "--url", url, "--game", "paddle", "--rooms", "2",
                           "--players-per-room", "3", "--duration", "3", "--quiet",
                           "--json", str(out))
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["ccu"] == 6 and report["rooms"] == 2
    assert report["errors"] == {}
    assert 0.95 <= report["delivery_ratio"] <= 1.01
    assert 25 <= report["snap_interval_ms"]["p50"] <= 42  # 30 Hz
    assert report["ack_latency_ms"]["p99"] is not None


def _engine_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] == "engine"}


def test_reference_server_and_bot_core_use_only_the_game_api() -> None:
    api = ("engine.protocol", "engine.errors", "engine.game", "engine.registry")
    for rel in ("load_tests/reference_server.py", "load_tests/bot.py"):
        imported = _engine_imports(ROOT / rel)
        assert imported, rel
        # `from engine import protocol` is fine, `from engine import Match` is not.
        beyond = {n for n in imported - {"engine"}
                  if not any(n == a or n.startswith(a + ".") for a in api)}
        assert beyond == set(), rel


def test_reference_configs_per_game() -> None:
    def rates(**kw: Any) -> dict[str, tuple[int, int, int]]:
        offered, _ = hosted_games(Options(**kw))
        return {gid: (h.config.tick_rate, h.config.snapshot_rate, h.config.max_players)
                for gid, h in offered.items()}

    assert rates() == {"arena": (20, 20, 20), "paddle": (60, 30, 4)}
    # --tick-rate keeps each game's ticks per snapshot.
    assert rates(tick_rate=40) == {"arena": (40, 40, 20), "paddle": (40, 20, 4)}
    offered, refused = hosted_games(Options(max_players=10))
    assert set(offered) == {"arena"} and "max_players" in refused["paddle"]
    offered, refused = hosted_games(Options(snapshot_rate=7))
    assert offered == {} and "must divide" in refused["arena"]
