"""WebSocket frame decoding micro-benchmark: inbound game traffic, no I/O.

    python -m load_tests.codec_bench [--frames N] [--chunk BYTES] [--repeat R] [--json out.json]

Many small masked client frames (binary, 12–60 bytes, the size of game
inputs; and the same count of short text frames) are built once by the
`websockets` client, cut into `--chunk`-byte pieces as a socket would
deliver them, and decoded by:

* ``codec``: ``gameserver.net.codec.FrameDecoder`` (messages, text decoded);
* ``websockets``: the ``websockets`` sans-I/O server protocol (frames only:
  it neither reassembles messages nor decodes text at that layer);
* ``daphne``: the daphne adapter's read path
  (``gameserver.net.daphne.FastSocket.take_messages``: the codec plus acting
  on its events) on a real daphne protocol over a Twisted TCP transport,
  fed through the ``dataReceived`` it installs.

Reports the best of `--repeat` runs as frames per second. Measures server
code in-process, like ``engine_bench``; no server or bots.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from websockets.protocol import Protocol, Side, State

from gameserver.net.codec import FrameDecoder
from gameserver.net.daphne import fast_socket

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


class _DaphneServer:
    """The few things daphne's WebSocketProtocol asks of `daphne.server.Server`."""

    root_path = ""
    proxy_forwarded_address_header = None

    def protocol_connected(self, protocol: Any) -> None:
        pass

    def protocol_disconnected(self, protocol: Any) -> None:
        pass

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> asyncio.Queue[Any]:
        return asyncio.Queue()

    def log_action(self, *args: Any) -> None:
        pass

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        protocol.handle_reply(message)


def run_daphne(chunks: list[bytes]) -> int:
    import txaio
    from daphne.ws_protocol import WebSocketFactory
    from twisted.internet import tcp
    from twisted.internet.testing import MemoryReactorClock

    reactor = MemoryReactorClock()  # autobahn's timers go here and never run
    # txaio sets `config` up at import time; its stubs do not declare it.
    config = txaio.config  # type: ignore[attr-defined]
    previous_loop, config.loop = config.loop, reactor
    server = _DaphneServer()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    sock, addr = listener.accept()
    listener.close()
    sock.setblocking(False)
    factory = WebSocketFactory(server, server="Daphne", reactor=reactor)
    factory.setProtocolOptions(autoPingTimeout=30, allowNullOrigin=True)
    protocol: Any = factory.buildProtocol(addr)
    protocol._raw_query_string = b""
    # A real socket on the memory reactor, with no listening port behind it.
    transport = tcp.Server(sock, protocol, addr, None, 1, reactor)  # type: ignore[arg-type]
    protocol.makeConnection(transport)
    protocol.dataReceived(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    protocol.handle_reply({"type": "websocket.accept"})
    fast = fast_socket(functools.partial(server.handle_reply, protocol))
    assert fast is not None, "the daphne adapter refused its own pinned versions"
    count = 0

    def handler(data: bytes | None, text: str | None) -> None:
        nonlocal count
        count += 1

    assert fast.take_messages(handler, MAX_MESSAGE)
    data_received = protocol.dataReceived
    try:
        for chunk in chunks:
            data_received(chunk)
    finally:
        config.loop = previous_loop
        client.close()
        sock.close()
    return count


RUNNERS: dict[str, Callable[[list[bytes]], int]] = {
    "codec": run_codec,
    "websockets": run_websockets,
    "daphne": run_daphne,
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
