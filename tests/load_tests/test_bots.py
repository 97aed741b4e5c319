"""Real bots against the reference server (a subprocess on a free loopback port).

Small counts, a few seconds each. The reference server's test-stub knobs
(--drop-every, --ack-delay-ms) give known answers the measurements must find.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from load_tests.bot import SwarmConfig
from load_tests.runner import RunConfig, RunResult, run_async
from load_tests.stats import REPORT_KEYS
from tests.load_tests.conftest import StartRef


def _config(url: str, **kw: object) -> RunConfig:
    params: dict[str, object] = {"rooms": 2, "players_per_room": 4, "duration": 4.0}
    params.update(kw)
    return RunConfig(swarm=SwarmConfig(urls=[url], **params))  # type: ignore[arg-type]


async def _run(url: str, **kw: object) -> RunResult:
    return await run_async(_config(url, **kw))


async def test_every_snapshot_arrives(reference_server: StartRef) -> None:
    url = await reference_server()
    r = (await _run(url, spectators=2, chatty=0.5)).report
    assert r["ccu"] == 10
    assert r["rooms"] == 2
    assert r["connect_failures"] == 0
    assert 0.97 <= r["delivery_ratio"] <= 1.01
    assert r["snap_interval_ms"]["p50"] is not None
    assert 40 <= r["snap_interval_ms"]["p50"] <= 60
    assert r["ack_latency_ms"]["p50"] is not None
    assert r["rtt_ms"]["p50"] is not None
    assert r["bytes_per_snapshot"] > 0
    assert r["server"]["metrics"] is True
    assert r["server"]["tick_ms"]["count"] > 0


async def test_dropped_snapshots_are_counted(reference_server: StartRef) -> None:
    url = await reference_server("--drop-every", "10")
    r = (await _run(url, duration=5.0)).report
    assert abs(r["delivery_ratio"] - 0.9) <= 0.02
    # Two ticks between snapshots around every dropped one.
    assert r["snap_interval_ms"]["max"] >= 90


async def test_ack_latency_follows_the_server_delay(reference_server: StartRef) -> None:
    plain_url, slow_url = await asyncio.gather(
        reference_server(), reference_server("--ack-delay-ms", "100"))
    plain, slow = await asyncio.gather(_run(plain_url), _run(slow_url))
    p50_plain = plain.report["ack_latency_ms"]["p50"]
    p50_slow = slow.report["ack_latency_ms"]["p50"]
    assert p50_slow >= 100
    assert p50_slow >= p50_plain + 50


async def test_reconnecting_bots_continue(reference_server: StartRef) -> None:
    url = await reference_server()
    res = await _run(url, reconnect=1.0, duration=5.0)
    r = res.report
    assert r["ccu"] == 8
    assert r["delivery_ratio"] >= 0.9
    m = res.measurements
    for bot in m.bots:
        # one connection before the planned drop, one after it
        assert len(bot.intervals) == 2
        assert m.t0 < bot.intervals[1][0] < m.t1
    # acks keep coming on the new sockets, late in the window
    assert max(m.ack_t) > 0.8 * r["duration_s"]
    assert not [k for k in r["errors"] if k.startswith("close_")]


async def test_cli_writes_json_and_png(reference_server: StartRef, tmp_path: Path) -> None:
    url = await reference_server()
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "load_tests", "run", "--url", url, "--rooms", "2",
        "--players-per-room", "3", "--duration", "3", "--processes", "2", "--quiet",
        "--json", str(out), "--plot", str(png),
    )
    async with asyncio.timeout(90):
        assert await proc.wait() == 0
    report = json.loads(out.read_text())
    assert tuple(report) == REPORT_KEYS
    assert report["ccu"] == 6
    assert 0.95 <= report["delivery_ratio"] <= 1.01
    for key in ("ack_latency_ms", "rtt_ms"):
        assert set(report[key]) == {"p50", "p95", "p99"}
    assert set(report["snap_interval_ms"]) == {"p50", "p99", "max"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_unreachable_server_is_reported_not_raised() -> None:
    r = (await _run("http://127.0.0.1:9", rooms=1, players_per_room=2, duration=1.0,
                    ramp_timeout=3.0, no_auth=True)).report
    assert r["ccu"] == 0
    assert r["connect_failures"] > 0
    assert r["delivery_ratio"] is None
    assert any(k.startswith("connect_") for k in r["errors"])


def test_a_frame_every_bot_of_a_room_reads_is_decoded_once() -> None:
    from engine import protocol
    from load_tests import bot as bots

    config = SwarmConfig(urls=["http://127.0.0.1:9"], rooms=1, players_per_room=2)
    swarm = bots.Swarm(config, [0, 1])
    decodes = 0
    unpack = swarm._unpack

    def counting(data: bytes) -> dict[str, object]:
        nonlocal decodes
        decodes += 1
        return unpack(data)

    swarm._unpack = counting
    frame = protocol.encode({"t": "snap", "tick": 7, "acks": {1: 3}})
    # The same bytes, as each bot's socket delivers them: separate objects, one decode.
    first = swarm._decode(bytes(bytearray(frame)))
    assert first == {"t": "snap", "tick": 7, "acks": {1: 3}}
    assert swarm._decode(bytes(bytearray(frame))) is first
    assert decodes == 1
    # Other bytes decode anew; bad ones are counted every time, never kept.
    assert swarm._decode(protocol.encode({"t": "pong", "id": 1})) == {"t": "pong", "id": 1}
    assert decodes == 2
    for _ in range(2):
        assert swarm._decode(b"\xc1") is None
    assert swarm.errors["bad_msgpack"] == 2
    # At most DECODED_KEPT frames are kept: the oldest goes first.
    for tick in range(bots.DECODED_KEPT):
        swarm._decode(protocol.encode({"t": "snap", "tick": 100 + tick, "acks": {}}))
    assert len(swarm._decoded) == bots.DECODED_KEPT
    assert bytes(frame) not in swarm._decoded


def test_a_delta_the_tracking_bots_of_a_room_read_is_applied_once() -> None:
    import random

    from load_tests import bot as bots
    from load_tests.engine_bench import _feed, _room

    config = SwarmConfig(urls=["http://127.0.0.1:9"], rooms=1, players_per_room=2)
    swarm = bots.Swarm(config, [0, 1])
    codec = swarm._codec
    match, rng = _room(1), random.Random(1)
    seqs: dict[int, int] = {}
    for _ in range(3):
        _feed(match, rng, seqs)
        match.step()
    before = match.snapshot()
    _feed(match, rng, seqs)
    match.step()
    frame = codec.encode(codec.diff(before, match.snapshot()))
    # Both tracking bots hold the room's full snapshot as decoded once (_decode).
    held = swarm._decode(codec.encode(before))
    assert held is not None
    applies = 0

    class Counting:
        def apply(self, delta: dict[str, object], state: dict[str, object]) -> object:
            nonlocal applies
            applies += 1
            return codec.apply(delta, state)

    swarm._codec = Counting()  # type: ignore[assignment]
    delta = swarm._decode(frame)
    assert delta is not None and delta["players"]["m"], "players moved"
    # The same bytes, as each bot's socket delivers them: separate objects.
    first = swarm._apply(bytes(bytearray(frame)), delta, held)
    assert first == codec.apply(delta, held)
    assert swarm._apply(bytes(bytearray(frame)), delta, held) is first
    assert applies == 1
    # A bot holding another state (even an equal copy) applies the delta itself.
    copy = codec.apply({**held, "full": True}, held)
    assert swarm._apply(bytes(bytearray(frame)), delta, copy) == first
    assert applies == 2
    # A delta that does not fit the state is counted and leaves the bot without one.
    assert swarm._apply(frame, delta, {"t": "snap", "tick": 0}) is None
    assert swarm.errors["delta_apply"] == 1
    # At most DECODED_KEPT deltas are kept: the oldest goes first.
    for tick in range(bots.DECODED_KEPT):
        swarm._apply(codec.encode({**delta, "tick": tick + 100}), delta, held)
    assert len(swarm._applied) == bots.DECODED_KEPT
    assert bytes(frame) not in swarm._applied
