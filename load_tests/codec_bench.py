"""WebSocket frame decoding micro-benchmark: inbound game traffic, no I/O.

    python -m load_tests.codec_bench [--frames N] [--chunk BYTES] [--repeat R] [--json out.json]

Many small masked client frames (binary, 12–60 bytes, the size of game
inputs; and the same count of short text frames) are built once by the
`websockets` client, cut into `--chunk`-byte pieces as a socket would
deliver them, and decoded by:

* ``codec``: ``gameserver.net.codec.FrameDecoder`` (messages, text decoded);
* ``websockets``: the ``websockets`` sans-I/O server protocol (frames only:
  it neither reassembles messages nor decodes text at that layer);
* ``transport``: the closure ``lobby.transport.take_messages`` installs on
  a daphne connection today, driven through a stand-in daphne protocol
  object (text is decoded there with errors="replace", not validated).

Reports the best of `--repeat` runs as frames per second. Measures server
code in-process, like ``engine_bench``; no server or bots.
"""

from __future__ import annotations

import argparse
import functools
import json
import queue
import random
import time
from collections.abc import Callable
from typing import Any

from websockets.protocol import Protocol, Side, State

from gameserver.net.codec import FrameDecoder
from lobby.transport import take_messages

MAX_MESSAGE = 1 << 16


def client_stream(frames: int, text: bool, seed: int = 1) -> bytes:
    """`frames` masked client frames of 12–60 bytes, as one byte string."""
    rng = random.Random(seed)
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    for _ in range(frames):
        size = rng.randint(12, 60)
        if text:
            client.send_text(bytes(rng.choice(b'{"seq":0123456789,}') for _ in range(size)))
        else:
            client.send_binary(rng.randbytes(size))
    return b"".join(client.data_to_send())


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run_codec(chunks: list[bytes]) -> int:
    decoder = FrameDecoder(MAX_MESSAGE)
    feed = decoder.feed
    count = 0
    for chunk in chunks:
        count += len(feed(chunk))
    return count


def run_websockets(chunks: list[bytes]) -> int:
    server = Protocol(Side.SERVER, state=State.OPEN, max_size=MAX_MESSAGE)
    receive, events = server.receive_data, server.events_received
    count = 0
    for chunk in chunks:
        receive(chunk)
        count += len(events())
    return count


class _StandInDaphneProtocol:
    """Just what `take_messages` reads from daphne's WebSocket protocol."""

    def __init__(self) -> None:
        self.application_queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.muted = False
        self.last_ping = 0.0

    def sendCloseFrame(self, code: int | None = None, isReply: bool = False) -> None:
        raise AssertionError("not reached")

    def dataReceived(self, data: bytes) -> None:
        raise AssertionError("the benchmark only sends plain data frames")

    def onMessage(self, payload: bytes, is_binary: bool) -> None:
        raise AssertionError("replaced by take_messages")


def run_transport(chunks: list[bytes]) -> int:
    protocol = _StandInDaphneProtocol()

    async def handle_reply(protocol: object, message: dict[str, Any]) -> None:
        return None

    count = 0

    def handler(data: bytes | None, text: str | None) -> None:
        nonlocal count
        count += 1

    assert take_messages(functools.partial(handle_reply, protocol), handler, MAX_MESSAGE)
    data_received = protocol.dataReceived
    for chunk in chunks:
        data_received(chunk)
    return count


RUNNERS: dict[str, Callable[[list[bytes]], int]] = {
    "codec": run_codec,
    "websockets": run_websockets,
    "transport": run_transport,
}


def measure(frames: int, chunk: int, repeat: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for kind in ("binary", "text"):
        chunks = chunked(client_stream(frames, text=kind == "text"), chunk)
        for name, runner in RUNNERS.items():
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                got = runner(chunks)
                best = min(best, time.perf_counter() - start)
                if got != frames:
                    raise AssertionError(f"{name} decoded {got} of {frames} {kind} frames")
            results[f"{name}/{kind}"] = {
                "frames_per_s": frames / best,
                "us_per_frame": best / frames * 1e6,
            }
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load_tests.codec_bench", description=__doc__)
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=4096, help="bytes per feed, as from a socket")
    p.add_argument("--repeat", type=int, default=5, help="runs per decoder; the best counts")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    results = measure(a.frames, a.chunk, a.repeat)
    print(f"{a.frames:,} masked client frames of 12–60 bytes in {a.chunk}-byte chunks")
    print(f"{'decoder/frames':<20} {'frames/s':>12} {'µs/frame':>9}")
    for name, r in results.items():
        print(f"{name:<20} {r['frames_per_s']:>12,.0f} {r['us_per_frame']:>9.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
