"""Hypothesis throws malformed frames at live game and lobby sockets.

Every frame must get an `error` frame (or the documented close: 1009 for
oversize), the server must log no unhandled exception, and a well-behaved
player in the same room must keep receiving snapshots at the full rate.
The server runs with a very high frame-rate limit so the flood close (4008,
tested in tests/gameserver/test_game_socket.py) does not mask the checks.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from engine import protocol
from tests.servers import LiveServer, http_json, migrate, server_env

pytestmark = pytest.mark.live

SNAPSHOT_RATE = 20
FUZZ_EXAMPLES = 2000
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def binary(data: str | bytes) -> bytes:
    """A message that must be a binary (msgpack) frame."""
    assert isinstance(data, bytes), f"text frame on the game socket: {data!r}"
    return data


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("fuzz") / "arena.sqlite3"
    env = server_env(path, {
        "MAX_FRAMES_PER_SECOND": "10000", "LOBBY_FRAMES_PER_SECOND": "10000",
        "LOBBY_FRAME_BURST": "100000", "SNAPSHOT_RATE": str(SNAPSHOT_RATE), "TICK_RATE": "20",
    })
    migrate(env)
    live = LiveServer(env=env).start()
    yield live
    live.stop()


def token(server: LiveServer, name: str) -> str:
    status, body = http_json("POST", f"{server.url}/api/session/guest", {"name": name})
    assert status == 201, body
    return str(body["token"])


class Watcher(threading.Thread):
    """A well-behaved player: sends an input every 50 ms, counts snapshots with their times."""

    def __init__(self, ws: ClientConnection) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        assert protocol.decode(binary(self.ws.recv(5)))["t"] == "welcome"
        self.snaps: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        seq, next_input = 0, time.monotonic()
        while not self.stop.is_set():
            try:
                data = self.ws.recv(timeout=0.02)
            except TimeoutError:
                data = None
            except ConnectionClosed:
                return
            if isinstance(data, bytes) and protocol.decode(data)["t"] == "snap":
                self.snaps.append(time.monotonic())
            if time.monotonic() >= next_input:
                seq += 1
                next_input += 0.05
                self.ws.send(protocol.encode(
                    {"t": "input", "seq": seq, "mx": 0.0, "my": 0.0, "aim": 0.0, "fire": False}
                ))

    def count(self, start: float, end: float) -> int:
        return sum(1 for t in self.snaps if start <= t <= end)

    def close(self) -> None:
        self.stop.set()
        self.join(5)


def no_unhandled_exception(log: str) -> None:
    assert "Traceback" not in log, log[-3000:]
    assert " ERROR " not in log and '"level": "ERROR"' not in log, log[-3000:]


# Strategies -------------------------------------------------------------------------

_valid_input = {"t": "input", "seq": 1, "mx": 0.0, "my": 0.0, "aim": 0.0, "fire": False}
_not_float = st.one_of(st.text(max_size=8), st.none(), st.booleans(), st.lists(st.integers(),
                       max_size=3), st.binary(max_size=8))
_bad_unit = st.one_of(
    _not_float,
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not -1.0 <= x <= 1.0),
    st.integers(min_value=2, max_value=2**64 - 1), st.integers(min_value=-(2**63), max_value=-2),
)
_bad_aim = st.one_of(
    _not_float,
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda x: math.isnan(x) or abs(x) > 2 * math.pi
    ),
)
_bad_seq = st.one_of(
    st.text(max_size=8), st.none(), st.booleans(), st.floats(allow_nan=True),
    st.integers(min_value=2**53, max_value=2**64 - 1),
    st.integers(min_value=-(2**63), max_value=-1),
)
_bad_bool = st.one_of(st.integers(), st.text(max_size=4), st.none(), st.floats())
_bad_input = st.one_of(
    st.builds(lambda v: {**_valid_input, "seq": v}, _bad_seq),
    st.builds(lambda v: {**_valid_input, "mx": v}, _bad_unit),
    st.builds(lambda v: {**_valid_input, "my": v}, _bad_unit),
    st.builds(lambda v: {**_valid_input, "aim": v}, _bad_aim),
    st.builds(lambda v: {**_valid_input, "fire": v}, _bad_bool),
    st.builds(lambda k: {key: val for key, val in _valid_input.items() if key != k},
              st.sampled_from(["seq", "mx", "my", "aim", "fire"])),
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


_deep = st.integers(min_value=5, max_value=400).map(
    lambda n: {**_valid_input, "extra": _nested(n)}
)
_unknown = st.builds(
    lambda t, extra: {"t": t, **extra},
    st.text(max_size=40).filter(lambda t: t not in {"input", "ping", "chat"}),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=4),
)
_bad_other = st.one_of(
    st.builds(lambda v: {"t": "ping", "id": v}, _bad_seq),
    st.builds(lambda v: {"t": "chat", "text": v},
              st.one_of(st.just(""), st.text(min_size=201, max_size=300), st.integers(),
                        st.none(), st.lists(st.text(), max_size=2))),
    st.builds(lambda v: {"t": v}, st.one_of(st.integers(), st.none(), st.binary(max_size=4))),
    st.dictionaries(st.text(max_size=5).filter(lambda k: k != "t"), st.integers(), max_size=4),
)
_non_map = st.one_of(st.integers(min_value=-(2**63), max_value=2**64 - 1), st.text(max_size=30),
                     st.lists(st.integers(), max_size=10), st.floats(allow_nan=True),
                     st.none(), st.booleans())


def _pack(value: Any) -> bytes:
    try:
        return bytes(msgpack.packb(value))
    except (ValueError, OverflowError):  # nesting too deep for the packer: truncate it
        return bytes(msgpack.packb({"t": "input", "x": _nested(100)}))


GAME_FRAMES = st.one_of(
    st.binary(min_size=0, max_size=2000),
    st.one_of(_bad_input, _deep, _unknown, _bad_other, _non_map).map(_pack),
    st.binary(min_size=1, max_size=2000).map(lambda b: b"\x82\xa1t\xa5input" + b),
)


def _error_reply(ws: ClientConnection) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        data = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        frame = protocol.decode(data) if isinstance(data, bytes) else json.loads(data)
        if frame.get("t") == "error" or frame.get("type") == "error":
            return frame


# Tests ------------------------------------------------------------------------------


def test_malformed_game_frames_get_errors_and_the_room_keeps_full_rate(
    server: LiveServer,
) -> None:
    room = "fuzz-room"
    with contextlib.ExitStack() as stack:
        calm = stack.enter_context(connect(
            f"{server.ws_url}/ws/game/{room}/?token={token(server, 'calm')}", max_size=None))
        fuzzer = stack.enter_context(connect(
            f"{server.ws_url}/ws/game/{room}/?token={token(server, 'fuzz')}", max_size=None))
        fuzz_room(server, Watcher(calm), fuzzer)


def fuzz_room(server: LiveServer, watcher: Watcher, fuzzer: ClientConnection) -> None:
    watcher.start()
    assert protocol.decode(binary(fuzzer.recv(5)))["t"] == "welcome"
    time.sleep(1.0)  # the watcher has its full snapshot and runs at the steady rate
    codes: dict[str, int] = {}
    started = time.monotonic()

    @FUZZ
    @given(frame=GAME_FRAMES)
    def throw(frame: bytes) -> None:
        fuzzer.send(frame)
        reply = _error_reply(fuzzer)
        codes[reply["code"]] = codes.get(reply["code"], 0) + 1

    @settings(max_examples=50, deadline=None, database=None)
    @given(text=st.text(max_size=200))
    def throw_text(text: str) -> None:
        fuzzer.send(text)
        assert _error_reply(fuzzer)["code"] == "bad_frame"

    throw()
    throw_text()
    ended = time.monotonic()
    # Still served after all that.
    fuzzer.send(protocol.encode({"t": "ping", "id": 7}))
    deadline = time.monotonic() + 5
    while protocol.decode(binary(fuzzer.recv(5)))["t"] != "pong":
        assert time.monotonic() < deadline
    fuzzer.close()
    watcher.close()
    assert set(codes) <= {"bad_frame", "invalid", "unknown_type"}, codes
    expected = SNAPSHOT_RATE * (ended - started)
    got = watcher.count(started, ended)
    assert got >= 0.9 * expected - 1, f"{got} snapshots in {ended - started:.1f}s"
    no_unhandled_exception(server.log())


def test_oversized_game_frames_close_1009(server: LiveServer) -> None:
    for size in (5000, 70_000, 1_000_000):
        url = f"{server.ws_url}/ws/game/fuzz-big/?token={token(server, 'big')}"
        with connect(url, max_size=None) as ws:
            assert protocol.decode(binary(ws.recv(5)))["t"] == "welcome"
            ws.send(b"\x00" * size)
            with pytest.raises(ConnectionClosed) as caught:
                while True:
                    ws.recv(5)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009
    no_unhandled_exception(server.log())


def _is_valid_type(kind: object) -> bool:
    """A lobby frame type that may be accepted (any JSON value may arrive as `type`)."""
    return isinstance(kind, str) and kind in {"chat.send", "ping"}


LOBBY_FRAMES = st.one_of(
    st.text(max_size=500),
    st.binary(max_size=500),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
        | st.text(max_size=10),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6), children, max_size=4),
        max_leaves=20,
    ).filter(lambda v: not (isinstance(v, dict) and _is_valid_type(v.get("type"))))
    .map(json.dumps),
    st.builds(lambda v: json.dumps({"type": "chat.send", "text": v}),
              st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=3))),
)


def test_malformed_lobby_frames_get_errors(server: LiveServer) -> None:
    with connect(f"{server.ws_url}/ws/lobby/?token={token(server, 'lobbyfuzz')}",
                 max_size=None) as ws:
        lobby_fuzz(server, ws)


def lobby_fuzz(server: LiveServer, ws: ClientConnection) -> None:
    seen: dict[str, int] = {}

    @settings(max_examples=400, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(frame=LOBBY_FRAMES)
    def throw(frame: str | bytes) -> None:
        ws.send(frame)
        reply = _error_reply(ws)
        seen[reply["code"]] = seen.get(reply["code"], 0) + 1

    throw()
    ws.send(b"\x00" * 100_000)
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            ws.recv(5)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009
    assert seen and set(seen) <= {"bad_frame", "bad_json", "unknown_type", "invalid"}, seen
    no_unhandled_exception(server.log())

