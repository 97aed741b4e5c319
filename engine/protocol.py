"""The one definition of the game socket's frames.

Client frames are validated by :func:`parse_client_frame` into pydantic
models; server frames are built by the small builder functions below, which
return the encoded bytes. The server runtime, the load-test bots and the tests
all import this module, so the wire format lives in exactly one place.

Every frame is one msgpack map with a string key ``"t"``.
"""

from __future__ import annotations

import functools
import re
import types
from enum import StrEnum
from typing import Any, Final, Literal, Self, TypeVar, Union, get_args, get_origin

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import FrameError

MAX_FRAME_BYTES: Final = 1024
"""Client frames larger than this are rejected as ``bad_frame`` before decoding."""
MAX_SEQ: Final = 2**53
"""``seq``, ``tick`` and ping ``id`` are below this (exactly representable in JS)."""
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
    BAD_GAME = "bad_game"
    """A game definition failed to load or is invalid (registry); the message names its path."""
    UNKNOWN_GAME = "unknown_game"


_STRICT = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


class InputBase(BaseModel):
    """The ``input`` envelope every game's input model extends: ``{"t": "input", "seq", ...}``.

    ``seq`` numbers a connection's inputs (strictly increasing; stale ones are
    ignored by the game, not errors). A game adds its own fields in a
    subclass (the arena's :class:`engine.arena.inputs.InputFrame`, the paddle
    game's :class:`engine.paddle.inputs.PaddleInput`); keep them flat and
    strict (subclasses inherit this model's config: strict types, no NaN or
    inf, unknown keys ignored, frozen).
    """

    model_config = _STRICT
    t: Literal["input"] = "input"
    seq: int = Field(ge=0, lt=MAX_SEQ)

    @classmethod
    def row_fields(cls) -> tuple[str, ...]:
        """The payload's field names in declaration order, without ``t``."""
        return _row_fields(cls)

    def to_row(self) -> list[Any]:
        """The payload as a list in :meth:`row_fields` order (input logs, checkpoints)."""
        return [getattr(self, name) for name in _row_fields(type(self))]

    @classmethod
    def from_row(cls, row: list[Any]) -> Self:
        """Inverse of :meth:`to_row` (validated: rows may come from storage)."""
        return cls.model_validate(dict(zip(_row_fields(cls), row, strict=True)))


@functools.cache
def _row_fields(model: type[InputBase]) -> tuple[str, ...]:
    # Once per input model (a model's fields never change after its class is made):
    # every forwarded or recorded input goes through to_row or from_row.
    return tuple(name for name in model.model_fields if name != "t")


InputT = TypeVar("InputT", bound=InputBase)


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


_CLIENT_TYPES: Final[dict[str, type[PingFrame] | type[ChatFrame]]] = {
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


_SCALAR_TYPES: Final = frozenset({int, float, bool, str, type(None)})


def _scalar_type(annotation: Any) -> bool:
    """True if every value of `annotation` is a scalar: int, float, bool, str, None, a Literal."""
    origin = get_origin(annotation)
    if origin is Literal:
        return all(type(arg) in _SCALAR_TYPES for arg in get_args(annotation))
    if origin is Union or origin is types.UnionType:
        return all(_scalar_type(arg) for arg in get_args(annotation))
    return annotation in _SCALAR_TYPES


def _constraint(item: object) -> bool:
    """A bound or a length (what ``Field(ge=..., max_length=...)`` records), nothing that runs code.

    Pydantic records those as ``annotated_types`` objects (``Ge``, ``Lt``,
    ``MaxLen``...); validators and anything else disable the shortcut.
    """
    return type(item).__module__ == "annotated_types"


@functools.cache
def flat_input_keys(input_model: type[InputBase]) -> frozenset[str]:
    """The keys of an ``input`` frame that :func:`parse_client_frame` validates directly.

    An ``input`` map whose every key is one of these is one flat map of the
    model's own fields: it cannot nest and has no key to drop, so the model
    validates it as it came. That holds when every field is a plain scalar
    (int, float, bool, str, None or a Literal of those, with only range or
    length constraints: a model can then accept no container) under its own
    name, and no validator could turn a container into a scalar. For any
    other model the set is empty and every frame takes the general checks.
    """
    decorators = input_model.__pydantic_decorators__
    if (decorators.validators or decorators.field_validators or decorators.root_validators
            or decorators.model_validators):
        return frozenset()
    for info in input_model.model_fields.values():
        if (info.alias is not None or info.validation_alias is not None
                or not _scalar_type(info.annotation)
                or not all(_constraint(item) for item in info.metadata)):
            return frozenset()
    return frozenset(input_model.model_fields)


def parse_client_frame(raw: bytes, input_model: type[InputT]) -> InputT | PingFrame | ChatFrame:
    """Decode and validate one client frame.

    ``input`` frames are validated by ``input_model``, the game's subclass of
    :class:`InputBase` (the runtime passes its room's game's); ``ping`` and
    ``chat`` are the same for every game.

    Raises :class:`FrameError` with code ``bad_frame`` (not msgpack, trailing
    bytes, not a map, no string ``t``, over :data:`MAX_FRAME_BYTES`, nested
    deeper than 4), ``unknown_type`` (``t`` not a client type) or ``invalid``
    (a field's type or range; the message names the field). Unknown extra
    fields are ignored. Never raises anything else.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):  # a tuple: faster than a union
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
    if type(obj) is dict and obj.get("t") == "input" and (
        obj.keys() <= flat_input_keys(input_model)
    ):
        # The common case, every input of every player: only the model's own
        # scalar fields (see flat_input_keys), so the checks below would pass
        # the map on unchanged. A rejection goes through them for its error.
        try:
            return input_model.model_validate(obj)
        except ValidationError:
            pass
    return validate_client_frame(obj, input_model)


def validate_client_frame(obj: Any, input_model: type[InputT]) -> InputT | PingFrame | ChatFrame:
    """The checks of :func:`parse_client_frame` after decoding, for any decoded value.

    The definition of what a frame may be: :func:`parse_client_frame` takes
    a shortcut for flat ``input`` maps only where this accepts and rejects
    the same (tests/engine/test_engine_protocol.py checks it).
    """
    if not isinstance(obj, dict):
        raise FrameError(ErrorCode.BAD_FRAME, "frame must be a map")
    if not _depth(obj, 4):
        raise FrameError(ErrorCode.BAD_FRAME, "frame nested too deeply")
    kind = obj.get("t")
    if not isinstance(kind, str):
        raise FrameError(ErrorCode.BAD_FRAME, 'frame needs a string "t"')
    model: type[InputT] | type[PingFrame] | type[ChatFrame] | None
    if kind == "input":
        model = input_model
    else:
        model = _CLIENT_TYPES.get(kind)
    if model is None:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind[:32]!r}")
    fields = {k: v for k, v in obj.items() if isinstance(k, str)}
    try:
        frame = model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "frame"
        raise FrameError(ErrorCode.INVALID, f"{where}: {first['msg']}") from None
    return frame


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


def ping(id: int) -> bytes:
    """Client builder: an encoded ``ping`` frame."""
    return encode({"t": "ping", "id": id})


def chat_send(text: str) -> bytes:
    """Client builder: an encoded client ``chat`` frame."""
    return encode({"t": "chat", "text": text})


def welcome(
    player_id: int, room: str, tick_rate: int, snapshot_rate: int, spectator: bool,
    server: str = "", game: str = "arena",
) -> bytes:
    """``{"t": "welcome", "player_id", "room", "tick_rate", "snapshot_rate", "spectator",
    "server", "game"}``; ``server`` names the process serving the socket (for operators),
    ``game`` the id of the room's game (its rates are the game's, per room)."""
    return encode(
        {
            "t": "welcome",
            "player_id": player_id,
            "room": room,
            "tick_rate": tick_rate,
            "snapshot_rate": snapshot_rate,
            "spectator": spectator,
            "server": server,
            "game": game,
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
