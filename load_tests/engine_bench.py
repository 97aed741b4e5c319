"""Engine micro-benchmark: cost of one step and size of snapshots.

    python -m load_tests.engine_bench [--json out.json] [--steps N]

A 20-player room in combat (bots moving, aiming at the nearest enemy and
firing); measures the mean and p99 wall time of ``Match.step`` with
``time.perf_counter`` and the encoded size of a delta snapshot with all 20
players moving; and what recording a match costs (engine/recording.py): the
bytes a room holds per player-minute with every player sending 20 inputs a
second, the stored (compressed) bytes of a whole default-length match, and
the time of one input's log entry and of one state checksum. Uses only the
standard library and the engine.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time

from engine import recording
from engine.arena import GAME, GameConfig, InputFrame, Match, codec
from engine.inputlog import InputLog

PLAYERS = 20


def _room(seed: int, first_id: int = 1) -> Match:
    m = Match(GameConfig(match_s=100000.0, score_limit=100000), seed)
    for pid in range(first_id, first_id + PLAYERS):
        m.add_player(pid, f"bot{pid}")
    m.start_now()
    return m


def _feed(m: Match, rng: random.Random, seqs: dict[int, int], fire: bool = True) -> None:
    ids = m.player_ids()
    states = {pid: m.player_state(pid) for pid in ids}
    for pid in ids:
        me = states[pid]
        target = min(
            (s for s in states.values() if s.player_id != pid and s.alive),
            key=lambda s: (s.x - me.x) ** 2 + (s.y - me.y) ** 2,
            default=me,
        )
        aim = math.atan2(target.y - me.y, target.x - me.x)
        seqs[pid] = seqs.get(pid, -1) + 1
        frame = InputFrame(
            seq=seqs[pid],
            mx=math.cos(seqs[pid] / 20 + pid),
            my=math.sin(seqs[pid] / 15 + pid),
            aim=aim,
            fire=fire and rng.random() < 0.8,
            tick=max(0, m.tick - 2),
        )
        m.submit(pid, frame)


def bench_step(steps: int) -> tuple[float, float, float]:
    """Mean and p99 step time (µs) and mean projectiles in flight."""
    m = _room(1)
    rng = random.Random(2)
    seqs: dict[int, int] = {}
    for _ in range(200):  # warm up into steady combat
        _feed(m, rng, seqs)
        m.step()
    samples: list[float] = []
    flying = 0
    for _ in range(steps):
        _feed(m, rng, seqs)
        start = time.perf_counter()
        m.step()
        samples.append((time.perf_counter() - start) * 1e6)
        flying += m.projectile_count()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.fmean(samples), p99, flying / steps


def bench_delta(first_id: int) -> tuple[float, float, int]:
    """(total delta bytes per moving player, movement-only bytes per player, full bytes)."""
    sizes: list[float] = []
    move: list[float] = []
    full = 0
    for seed in range(5):
        m = _room(seed, first_id)
        rng = random.Random(seed)
        seqs: dict[int, int] = {}
        for _ in range(300):  # seqs past 255 so acks cost what they do in real play
            _feed(m, rng, seqs, fire=False)
            m.step()
        prev = m.snapshot()
        _feed(m, rng, seqs, fire=False)
        m.step()
        cur = m.snapshot()
        moving = sum(
            1 for pid in cur["players"] if cur["players"][pid][:3] != prev["players"][pid][:3]
        )
        delta = codec.diff(prev, cur)
        size = len(codec.encode(delta))
        no_moves = dict(delta)
        no_moves.pop("players", None)
        sizes.append(size / max(1, moving))
        move.append((size - len(codec.encode(no_moves))) / max(1, moving))
        full = len(codec.encode(cur))
    return statistics.fmean(sizes), statistics.fmean(move), full


def bench_recording() -> dict[str, float]:
    """A whole default-length match of 20 players, recorded as a room records it."""
    config = GameConfig(score_limit=100000)
    m = Match(config, 3)
    recorder = recording.Recorder(GAME, config, m, checksum_every=config.tick_rate)
    for pid in range(1, PLAYERS + 1):
        m.add_player(pid, f"bot{pid}")
    m.start_now()
    rng = random.Random(4)
    seqs: dict[int, int] = {}
    finished = None
    peak = 0
    for _ in range(config.ticks(config.match_s) + 2):
        _feed(m, rng, seqs)
        finished = recorder.after_step(m.step()) or finished
        if finished is None:
            peak = max(peak, recorder.nbytes())
    assert finished is not None, "the match did not end"
    minutes = (finished.last_tick - finished.first_tick) / config.tick_rate / 60
    stored = len(recording.pack(finished))
    frame = InputFrame(seq=123456, mx=0.70710678, my=-0.70710678, aim=1.2345678, fire=True,
                       tick=654321)
    log = InputLog(InputFrame)
    start = time.perf_counter()
    for i in range(20000):
        log.add(i, 7, "input", "", frame)  # packs the row (engine/inputlog.py)
    add_us = (time.perf_counter() - start) / 20000 * 1e6
    start = time.perf_counter()
    for _ in range(200):
        recording.state_checksum(m)
    checksum_us = (time.perf_counter() - start) / 200 * 1e6
    return {
        "recording_bytes_per_player_minute": round(peak / PLAYERS / minutes),
        "recording_stored_bytes_per_match": stored,
        "recording_match_minutes": round(minutes, 2),
        "recording_add_us_per_input": round(add_us, 2),
        "recording_checksum_us": round(checksum_us, 1),
        "recording_checksum_us_per_tick": round(checksum_us / config.tick_rate, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args(argv)
    mean, p99, flying = bench_step(args.steps)
    per_player, move_only, full = bench_delta(1)
    per_player_big, move_only_big, _ = bench_delta(100000)
    result = {
        "step_us_mean": round(mean, 1),
        "step_us_p99": round(p99, 1),
        "delta_bytes_per_moving_player": round(per_player, 2),
        "full_snapshot_bytes": full,
        "delta_move_bytes_per_player": round(move_only, 2),
        "delta_bytes_per_moving_player_big_ids": round(per_player_big, 2),
        "delta_move_bytes_per_player_big_ids": round(move_only_big, 2),
        "projectiles_in_flight_mean": round(flying, 1),
        **bench_recording(),
    }
    targets = {"step_us_mean": 200, "step_us_p99": 200, "delta_bytes_per_moving_player": 10}
    print(f"{'metric':<42} {'value':>10} {'target':>8}")
    for key, value in result.items():
        target = targets.get(key)
        mark = "" if target is None else ("  ok" if value < target else "  OVER")
        print(f"{key:<42} {value:>10} {'' if target is None else '< ' + str(target):>8}{mark}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
