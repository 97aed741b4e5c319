"""Client frame validation and server frame builders."""

from __future__ import annotations

import math
import struct
from typing import Annotated, Any, Literal

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BeforeValidator, Field, field_validator

from engine import FrameError, protocol
from engine.arena.inputs import InputFrame, input_frame
from engine.paddle.inputs import PaddleInput
from engine.protocol import ChatFrame, ErrorCode, InputBase, PingFrame, parse_client_frame

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


# The shortcut for flat input maps --------------------------------------------------------

class _Custom(InputBase):
    """A game's input with every kind of scalar field the shortcut takes."""

    name: str = Field(min_length=1, max_length=3)
    mode: Literal["a", "b"] | None = None
    power: float | int = Field(default=0, ge=0, le=10)


class _Coerced(InputBase):
    """A before-validator can turn a container into a scalar: no shortcut."""

    v: int

    @field_validator("v", mode="before")
    @classmethod
    def _length(cls, value: Any) -> Any:
        return len(value) if isinstance(value, list) else value


def _length(value: Any) -> Any:
    return len(value) if isinstance(value, list) else value


class _AnnotatedCoerced(InputBase):
    """The same through Annotated metadata: no shortcut."""

    v: Annotated[int, BeforeValidator(_length)]


class _Listed(InputBase):
    """A container field: no shortcut."""

    v: list[Any]


_MODELS: dict[str, type[InputBase]] = {
    "arena": InputFrame, "paddle": PaddleInput, "custom": _Custom,
    "coerced": _Coerced, "annotated": _AnnotatedCoerced, "listed": _Listed,
}
_KEYS = sorted({"t", "x", *(k for m in _MODELS.values() for k in m.model_fields)})
_SCALARS = (
    st.none() | st.booleans() | st.sampled_from(["input", "a", "b", "", "abcd"])
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.sampled_from([0, 1, -1, 2, 10, 11, 2**53 - 1, 2**53, -(2**53)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1.0, -1.0, 1.0000001, 2 * math.pi, -2 * math.pi, 6.2832, 10.5])
    | st.text(max_size=4) | st.binary(max_size=3)
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2),
                                                                          inner, max_size=2),
    max_leaves=8,
)


def _outcome(run: Any) -> tuple[Any, ...]:
    try:
        frame = run()
    except FrameError as exc:
        return ("rejected", exc.code, exc.message)
    return ("accepted", type(frame), frame.model_dump(), frame.model_fields_set)


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(sorted(_MODELS)),
    body=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8),
    kind=st.sampled_from(["input", "input", "input", "ping", 5]),
    odd_key=st.none() | st.integers(0, 3),
)
def test_the_flat_input_shortcut_accepts_and_rejects_as_the_model_does(
    model: str, body: dict[str, Any], kind: Any, odd_key: int | None
) -> None:
    """Any decoded map, through parse_client_frame (shortcut allowed) and through the
    general checks alone: the same frame, or the same error code and message."""
    input_model = _MODELS[model]
    frame: dict[Any, Any] = {**body, "t": kind}
    if odd_key is not None:
        frame[odd_key] = "non-string key"
    raw = pack(frame)
    if len(raw) > protocol.MAX_FRAME_BYTES:
        return
    decoded = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    assert _outcome(lambda: parse_client_frame(raw, input_model)) == _outcome(
        lambda: protocol.validate_client_frame(decoded, input_model)
    )


def test_the_shortcut_covers_the_games_inputs_and_only_flat_scalar_models() -> None:
    assert protocol.flat_input_keys(InputFrame) == {"t", "seq", "mx", "my", "aim", "fire", "tick"}
    assert protocol.flat_input_keys(PaddleInput) == {"t", "seq", "dir"}
    assert protocol.flat_input_keys(_Custom) == {"t", "seq", "name", "mode", "power"}
    assert protocol.flat_input_keys(_Coerced) == frozenset()
    assert protocol.flat_input_keys(_AnnotatedCoerced) == frozenset()
    assert protocol.flat_input_keys(_Listed) == frozenset()


def test_a_coercing_model_still_gets_the_nesting_limit() -> None:
    deep = {"t": "input", "seq": 1, "v": [[[[[1]]]]]}
    with pytest.raises(FrameError) as err:
        parse_client_frame(pack(deep), _Coerced)
    assert err.value.code == ErrorCode.BAD_FRAME
    assert parse_client_frame(pack({**deep, "v": [1, 2]}), _Coerced) == _Coerced(seq=1, v=2)
