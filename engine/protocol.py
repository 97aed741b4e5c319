"""The one definition of the game socket's frames.

Client frames are validated by :func:`parse_client_frame` into pydantic
models; server frames are built by the small builder functions below, which
return the encoded bytes. The server runtime, the load-test bots and the tests
all import this module, so the wire format lives in exactly one place.

Every frame is one msgpack map with a string key ``"t"``.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any, Final, Literal

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import FrameError

MAX_FRAME_BYTES: Final = 1024
"""Client frames larger than this are rejected as ``bad_frame`` before decoding."""
MAX_SEQ: Final = 2**53
"""``seq``, ``tick`` and ping ``id`` are below this (exactly representable in JS)."""
AIM_LIMIT: Final = 2 * math.pi
"""``aim`` is in radians within ``[-2*pi, 2*pi]``: atan2 output and one extra turn."""
CHAT_MAX_CHARS: Final = 200

ROOM_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
"""A room's name, wherever one appears (URLs, the API, messages between processes)."""
ROOM_NAME_RE = re.compile(rf"^{ROOM_NAME_PATTERN}$")


def valid_room_name(name: object) -> bool:
    """True for a string of 1–64 characters of A-Z a-z 0-9 _ -."""
    return isinstance(name, str) and ROOM_NAME_RE.fullmatch(name) is not None


class ErrorCode(StrEnum):
    """Every ``code`` the engine puts in an ``error`` frame or an :class:`EngineError`."""

    BAD_FRAME = "bad_frame"
    """Not msgpack, trailing bytes, not a map, no string ``t``, too big or too deep."""
    UNKNOWN_TYPE = "unknown_type"
    """``t`` is a string but not a client frame type."""
    INVALID = "invalid"
    """A field has the wrong type or is out of range; the message names the field."""
    ROOM_FULL = "room_full"
    ALREADY_JOINED = "already_joined"
    NOT_IN_ROOM = "not_in_room"
    WRONG_PHASE = "wrong_phase"
    """A call was made in a phase that does not allow it; the message names the phase."""
    BAD_CONFIG = "bad_config"
    BAD_CHECKPOINT = "bad_checkpoint"


_STRICT = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


class InputFrame(BaseModel):
    """``{"t": "input", "seq", "mx", "my", "aim", "fire", "tick"?}``: intent for the next tick.

    ``mx``/``my`` are the stick in ``[-1, 1]`` (a longer vector is normalised
    by the engine), ``aim`` radians in ``[-2*pi, 2*pi]``, ``tick`` the snapshot
    tick the player was seeing when firing (lag compensation; optional).
    Ints are accepted for the float fields; bools are never numbers.
    """

    model_config = _STRICT
    t: Literal["input"] = "input"
    seq: int = Field(ge=0, lt=MAX_SEQ)
    mx: float = Field(ge=-1.0, le=1.0)
    my: float = Field(ge=-1.0, le=1.0)
    aim: float = Field(ge=-AIM_LIMIT, le=AIM_LIMIT)
    fire: bool
    tick: int | None = Field(default=None, ge=0, lt=MAX_SEQ)


class PingFrame(BaseModel):
    """``{"t": "ping", "id"}``: answered at once with ``pong``."""

    model_config = _STRICT
    t: Literal["ping"] = "ping"
    id: int = Field(ge=0, lt=MAX_SEQ)


class ChatFrame(BaseModel):
    """``{"t": "chat", "text"}``: 1-200 characters; the runtime sanitises further."""

    model_config = _STRICT
    t: Literal["chat"] = "chat"
    text: str = Field(min_length=1, max_length=CHAT_MAX_CHARS)


ClientFrame = InputFrame | PingFrame | ChatFrame
_CLIENT_TYPES: Final[dict[str, type[InputFrame] | type[PingFrame] | type[ChatFrame]]] = {
    "input": InputFrame,
    "ping": PingFrame,
    "chat": ChatFrame,
}


def _unpack_client(raw: bytes) -> Any:
    # Small per-object limits mean a hostile frame cannot make msgpack allocate
    # much; the C unpacker's own depth limit raises StackError on deep nesting.
    return msgpack.unpackb(
        raw,
        raw=False,
        strict_map_key=False,  # non-string keys are unknown fields: dropped below
        max_str_len=MAX_FRAME_BYTES,
        max_bin_len=MAX_FRAME_BYTES,
        max_array_len=64,
        max_map_len=64,
        max_ext_len=0,
    )


def _depth(value: Any, limit: int) -> bool:
    """True if ``value`` nests no deeper than ``limit`` containers."""
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return True
    if limit <= 0:
        return False
    # Game frames are flat: only containers are looked into (a plain loop; this
    # runs for every input of every player).
    for child in children:
        if isinstance(child, dict | list) and not _depth(child, limit - 1):
            return False
    return True


def parse_client_frame(raw: bytes) -> InputFrame | PingFrame | ChatFrame:
    """Decode and validate one client frame.

    Raises :class:`FrameError` with code ``bad_frame`` (not msgpack, trailing
    bytes, not a map, no string ``t``, over :data:`MAX_FRAME_BYTES`, nested
    deeper than 4), ``unknown_type`` (``t`` not a client type) or ``invalid``
    (a field's type or range; the message names the field). Unknown extra
    fields are ignored. Never raises anything else.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise FrameError(ErrorCode.BAD_FRAME, "frame must be binary")
    if len(raw) > MAX_FRAME_BYTES:
        raise FrameError(ErrorCode.BAD_FRAME, f"frame larger than {MAX_FRAME_BYTES} bytes")
    try:
        obj = _unpack_client(bytes(raw))
    except Exception as exc:  # ExtraData, FormatError, StackError, ValueError, TypeError...
        # msgpack raises a zoo of types on hostile input; all mean the same thing here.
        raise FrameError(
            ErrorCode.BAD_FRAME, f"not a msgpack frame ({type(exc).__name__})"
        ) from None
    if not isinstance(obj, dict):
        raise FrameError(ErrorCode.BAD_FRAME, "frame must be a map")
    if not _depth(obj, 4):
        raise FrameError(ErrorCode.BAD_FRAME, "frame nested too deeply")
    kind = obj.get("t")
    if not isinstance(kind, str):
        raise FrameError(ErrorCode.BAD_FRAME, 'frame needs a string "t"')
    model = _CLIENT_TYPES.get(kind)
    if model is None:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind[:32]!r}")
    fields = {k: v for k, v in obj.items() if isinstance(k, str)}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "frame"
        raise FrameError(ErrorCode.INVALID, f"{where}: {first['msg']}") from None


# -- encoding ------------------------------------------------------------------


def encode(frame: dict[str, Any]) -> bytes:
    """Encode one frame as msgpack (``use_bin_type``)."""
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


def decode(data: bytes) -> dict[str, Any]:
    """Decode one frame (integer map keys allowed); raises FrameError(bad_frame) if not a map."""
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:
        raise FrameError(
            ErrorCode.BAD_FRAME, f"not a msgpack frame ({type(exc).__name__})"
        ) from None
    if not isinstance(obj, dict):
        raise FrameError(ErrorCode.BAD_FRAME, "frame must be a map")
    return obj


def input_frame(
    seq: int, mx: float, my: float, aim: float, fire: bool, tick: int | None = None
) -> bytes:
    """Client builder (bots, tests): an encoded ``input`` frame."""
    frame: dict[str, Any] = {"t": "input", "seq": seq, "mx": mx, "my": my, "aim": aim, "fire": fire}
    if tick is not None:
        frame["tick"] = tick
    return encode(frame)


def ping(id: int) -> bytes:
    """Client builder: an encoded ``ping`` frame."""
    return encode({"t": "ping", "id": id})


def chat_send(text: str) -> bytes:
    """Client builder: an encoded client ``chat`` frame."""
    return encode({"t": "chat", "text": text})


def welcome(
    player_id: int, room: str, tick_rate: int, snapshot_rate: int, spectator: bool,
    server: str = "",
) -> bytes:
    """``{"t": "welcome", "player_id", "room", "tick_rate", "snapshot_rate", "spectator",
    "server"}``; ``server`` names the process serving the socket (for operators)."""
    return encode(
        {
            "t": "welcome",
            "player_id": player_id,
            "room": room,
            "tick_rate": tick_rate,
            "snapshot_rate": snapshot_rate,
            "spectator": spectator,
            "server": server,
        }
    )


def pong(id: int) -> bytes:
    """``{"t": "pong", "id"}``: the answer to a ``ping`` with the same id."""
    return encode({"t": "pong", "id": id})


def error(code: str, message: str) -> bytes:
    """``{"t": "error", "code", "message"}``: a rejected frame or request."""
    return encode({"t": "error", "code": str(code), "message": message})


def chat(message_id: int, from_id: int, from_name: str, text: str, ts: str) -> bytes:
    """``{"t": "chat", "id", "from": {"id", "name"}, "text", "ts"}``: room chat relayed to all.

    ``id`` is the stored message's id (the one ``chat.deleted`` names).
    """
    return encode({
        "t": "chat", "id": message_id, "from": {"id": from_id, "name": from_name},
        "text": text, "ts": ts,
    })


def chat_deleted(message_id: int) -> bytes:
    """``{"t": "chat.deleted", "id"}``: a moderator deleted that room chat message."""
    return encode({"t": "chat.deleted", "id": message_id})


def events(tick: int, wires: list[dict[str, Any]]) -> bytes:
    """``{"t": "events", "tick", "events": [...]}``: a tick's :meth:`Event.to_wire` dicts."""
    return encode({"t": "events", "tick": tick, "events": wires})
