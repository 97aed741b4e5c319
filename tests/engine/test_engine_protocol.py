"""Client frame validation and server frame builders."""

from __future__ import annotations

import math
import struct
from typing import Any

import msgpack
import pytest

from engine import FrameError, protocol
from engine.arena.inputs import InputFrame, input_frame
from engine.protocol import ChatFrame, ErrorCode, PingFrame, parse_client_frame

GOOD: dict[str, Any] = {"t": "input", "seq": 1, "mx": 0.5, "my": -1, "aim": 1.0, "fire": False}


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def code_of(raw: bytes) -> tuple[str, str]:
    with pytest.raises(FrameError) as err:
        parse_client_frame(raw, InputFrame)
    return err.value.code, err.value.message


def test_valid_frames() -> None:
    f = parse_client_frame(pack(GOOD), InputFrame)
    assert isinstance(f, InputFrame) and f.my == -1.0 and f.tick is None
    f = parse_client_frame(pack({**GOOD, "tick": 7, "extra": [1, 2], 5: "int key"}), InputFrame)
    assert isinstance(f, InputFrame) and f.tick == 7
    assert parse_client_frame(protocol.ping(3), InputFrame) == PingFrame(id=3)
    assert parse_client_frame(protocol.chat_send("hi"), InputFrame) == ChatFrame(text="hi")
    assert isinstance(parse_client_frame(input_frame(0, 0, 0, 0, True, 3), InputFrame), InputFrame)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # never-used byte
        b"\x92\x01",  # truncated array
        pack(GOOD) + b"\x00",  # trailing garbage
        pack([1, 2, 3]),
        pack("input"),
        pack({"seq": 1}),
        pack({"t": 5}),
        pack({"t": b"input"}),
        pack({"t": "input", (1, 2): 3}),  # non-string key
        b"\x91" * 5000,  # deep nesting (and too big)
        b"\x91" * 900 + b"\x00",  # deep nesting under the size limit
        pack({"t": "input", "x": [[[[[[1]]]]]]}),
        pack({"t": "chat", "text": "x" * 2000}),  # over the frame size
        msgpack.packb({"t": "ping", "id": msgpack.ExtType(1, b"x")}),
        b"\xdf\xff\xff\xff\xff",  # map header claiming 4 billion entries
        bytes(range(256)),
    ],
)
def test_bad_frames(raw: bytes) -> None:
    assert code_of(raw)[0] == ErrorCode.BAD_FRAME


def test_unknown_type() -> None:
    assert code_of(pack({"t": "teleport", "x": 1}))[0] == "unknown_type"
    assert code_of(pack({"t": "snap"}))[0] == "unknown_type"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", -1),
        ("seq", 2**53),
        ("seq", 2**64 - 1),
        ("seq", True),
        ("seq", 1.0),
        ("seq", "1"),
        ("seq", None),
        ("mx", math.nan),
        ("mx", math.inf),
        ("my", -math.inf),
        ("mx", 1.0001),
        ("my", -2),
        ("mx", True),
        ("mx", "0.5"),
        ("aim", 7.0),
        ("aim", -7),
        ("aim", math.nan),
        ("aim", 2**64 - 1),
        ("fire", 1),
        ("fire", 0),
        ("fire", "yes"),
        ("tick", -1),
        ("tick", 1.5),
        ("tick", True),
    ],
)
def test_invalid_input_fields(field: str, value: Any) -> None:
    code, message = code_of(pack({**GOOD, field: value}))
    assert code == "invalid"
    assert field in message


@pytest.mark.parametrize("missing", ["seq", "mx", "my", "aim", "fire"])
def test_missing_fields(missing: str) -> None:
    frame = {k: v for k, v in GOOD.items() if k != missing}
    code, message = code_of(pack(frame))
    assert code == "invalid" and missing in message


def test_float32_and_ints_accepted() -> None:
    raw = b"\x86" + pack("t") + pack("input") + pack("seq") + b"\x00"
    raw += pack("mx") + b"\xca" + struct.pack(">f", 0.5) + pack("my") + b"\x00"
    raw += pack("aim") + b"\xff" + pack("fire") + b"\xc2"
    f = parse_client_frame(raw, InputFrame)
    assert isinstance(f, InputFrame) and f.mx == 0.5 and f.aim == -1.0


def test_ping_and_chat_validation() -> None:
    assert code_of(pack({"t": "ping", "id": -1}))[0] == "invalid"
    assert code_of(pack({"t": "ping", "id": False}))[0] == "invalid"
    assert code_of(pack({"t": "ping"}))[0] == "invalid"
    assert code_of(pack({"t": "chat", "text": ""}))[0] == "invalid"
    assert code_of(pack({"t": "chat", "text": "x" * 201}))[0] == "invalid"
    assert code_of(pack({"t": "chat", "text": b"bytes"}))[0] == "invalid"
    long_chat = pack({"t": "chat", "text": "é" * 200})
    assert parse_client_frame(long_chat, InputFrame) == ChatFrame(text="é" * 200)


def test_non_bytes_input() -> None:
    with pytest.raises(FrameError) as err:
        # A str on purpose: the runtime's callers are typed, hostile ones are not.
        parse_client_frame("text frame", InputFrame)  # type: ignore[arg-type]
    assert err.value.code == "bad_frame"


def test_server_builders() -> None:
    assert protocol.decode(protocol.welcome(7, "r1", 20, 10, False, "host:42")) == {
        "t": "welcome",
        "player_id": 7,
        "room": "r1",
        "tick_rate": 20,
        "snapshot_rate": 10,
        "spectator": False,
        "server": "host:42",
        "game": "arena",
    }
    welcome = protocol.decode(protocol.welcome(7, "r1", 60, 30, True, "h:1", game="paddle"))
    assert (welcome["game"], welcome["tick_rate"], welcome["snapshot_rate"]) == ("paddle", 60, 30)
    assert protocol.decode(protocol.pong(9)) == {"t": "pong", "id": 9}
    assert protocol.decode(protocol.error(ErrorCode.INVALID, "seq: bad")) == {
        "t": "error",
        "code": "invalid",
        "message": "seq: bad",
    }
    assert protocol.decode(protocol.chat(41, 3, "ann", "hello", "2025-01-01T00:00:00Z")) == {
        "t": "chat",
        "id": 41,
        "from": {"id": 3, "name": "ann"},
        "text": "hello",
        "ts": "2025-01-01T00:00:00Z",
    }
    assert protocol.decode(protocol.chat_deleted(41)) == {"t": "chat.deleted", "id": 41}
    int_keys: dict[Any, Any] = {"t": "x", 1: 2}  # msgpack maps may have int keys
    assert protocol.decode(protocol.encode(int_keys)) == int_keys
    with pytest.raises(FrameError):
        protocol.decode(b"\xc1")
    with pytest.raises(FrameError):
        protocol.decode(pack([1]))
