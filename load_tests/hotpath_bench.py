"""Micro-benchmark of the per-input and per-snapshot costs the hot path removed.

    python -m load_tests.hotpath_bench [--json out.json] [--number N]

Each figure is the best of several timed runs of one call (µs), measured
beside its replacement in the same process:

* parsing a bot's arena input frame: the general checks alone
  (``engine.protocol.validate_client_frame`` after decoding, what every input
  went through before) against ``parse_client_frame``'s flat-input shortcut;
* counting an accepted input: a prometheus counter's ``inc`` against a
  ``gameserver.metrics.Tally``;
* one read callback: Twisted's ``callWithLogger`` around the read step
  against the read step called directly (``gameserver.net.daphne.direct_reads``);
* one snapshot message of one room in one process: dumped, sent through the
  in-process channel layer, received and validated again, against the
  hub's call taken directly.

Timings on a shared machine are noisy: read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import timeit
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gameserver.settings")

REPEAT = 7


def _pair(before: Callable[[], Any], after: Callable[[], Any], number: int) -> tuple[float, float]:
    """Best µs per call of each over REPEAT alternating runs of `number` calls (alternating:
    a shared machine's load changes under a run, and should change under both alike)."""
    best = [float("inf"), float("inf")]
    for _ in range(REPEAT):
        for i, stmt in enumerate((before, after)):
            best[i] = min(best[i], timeit.timeit(stmt, number=number) / number * 1e6)
    return best[0], best[1]


def bench_parse(number: int) -> dict[str, float]:
    from engine import protocol
    from engine.arena.inputs import InputFrame, input_frame

    raw = input_frame(12345, 0.5, -0.25, 1.2, True, 4567)

    def general() -> Any:
        return protocol.validate_client_frame(protocol._unpack_client(raw), InputFrame)

    assert general() == protocol.parse_client_frame(raw, InputFrame)
    before, after = _pair(general, lambda: protocol.parse_client_frame(raw, InputFrame), number)
    return {"parse_input_general_us": before, "parse_input_us": after}


def bench_count(number: int) -> dict[str, float]:
    from prometheus_client import CollectorRegistry, Counter

    from gameserver.metrics import Tally

    counter = Counter("bench_inputs_total", "bench", ["result"],
                      registry=CollectorRegistry()).labels("accepted")
    tally = Tally.__new__(Tally)  # not registered: flush() stays the process's own
    tally.counter, tally.count = counter, 0

    def add() -> None:
        tally.count += 1

    before, after = _pair(counter.inc, add, number)
    return {"counter_inc_us": before, "tally_add_us": after}


def bench_read_callback(number: int) -> dict[str, float]:
    from twisted.internet import tcp
    from twisted.internet.protocol import Protocol
    from twisted.python.log import callWithLogger

    a, b = socket.socketpair()
    transport = tcp.Server(b, Protocol(), ("127.0.0.1", 1), None, 1, None)  # type: ignore[arg-type]

    def read_step(selectable: Any, read: bool) -> None:
        return None

    try:
        before, after = _pair(
            lambda: callWithLogger(transport, read_step, transport, True),  # type: ignore[no-untyped-call]
            lambda: read_step(transport, True), number)
        return {"read_callback_wrapped_us": before, "read_callback_direct_us": after}
    finally:
        a.close()
        b.close()


def bench_snapshot_delivery(number: int) -> dict[str, float]:
    from gameserver import interprocess as msg
    from gameserver.layers import LocalChannelLayer

    snapshot = msg.Snapshot(room="bench-1", tick=100, delta=b"\x85" + b"x" * 180,
                            full=None, events=None, token=0)
    delivered: list[Any] = []

    async def on_snapshot(message: msg.Snapshot) -> None:
        delivered.append(message)

    async def run() -> dict[str, float]:
        layer = LocalChannelLayer()
        channel = await layer.new_channel("hub.")
        await layer.group_add("room.bench-1", channel)

        async def through_layer() -> None:
            await layer.group_send("room.bench-1", msg.to_layer(snapshot))
            received = msg.parse(await layer.receive(channel))
            assert isinstance(received, msg.Snapshot)
            await on_snapshot(received)

        async def direct() -> None:
            await on_snapshot(snapshot)

        n = max(1000, number // 20)
        best = {"snapshot_via_layer_us": float("inf"), "snapshot_direct_us": float("inf")}
        loop = asyncio.get_running_loop()
        for _ in range(REPEAT):
            for name, step in (("snapshot_via_layer_us", through_layer),
                               ("snapshot_direct_us", direct)):
                started = loop.time()
                for _ in range(n):
                    await step()
                best[name] = min(best[name], (loop.time() - started) / n * 1e6)
                delivered.clear()
        return best

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.hotpath_bench")
    parser.add_argument("--number", type=int, default=100_000, help="calls per timed run")
    parser.add_argument("--json", help="write the figures here as JSON")
    args = parser.parse_args(argv)
    import django

    django.setup()  # first: daphne installs Twisted's asyncio reactor on import
    out: dict[str, float] = {}
    for bench in (bench_parse, bench_count, bench_read_callback, bench_snapshot_delivery):
        out.update(bench(args.number))
    for name, value in out.items():
        print(f"{name:30s} {value:8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
