"""Messages between server processes over the channel layer: their one definition.

Every message a process's room manager sends another process (to a room
owner's channel with `send`, or to a room group with `group_send`) is one of
the pydantic models below: strict types, no extra fields, bounded sizes, and
a `type` that picks the model (a discriminated union). Senders build the
model and put `to_layer(model)` on the layer; receivers call `parse(raw)`.

`parse` never raises anything but `MessageError`, whose `reason` is one of
`DROP_REASONS` (the values of the `reason` label of
`arena_cluster_messages_dropped_total`): `unknown_type` (no or unknown
`type`), `invalid` (a known type whose fields are wrong, missing, extra,
out of range or too big). The manager counts and drops such a message; it
never reaches a room.

Messages to a room's owner (sent to its channel):
`room.join`, `room.leave`, `room.watch`, `room.unwatch`,
`room.subscribe`, `room.unsubscribe`, `room.need_full`, `room.expel`, and
`room.inputs`: the sender's players' inputs for every room the receiver owns,
batched (one message per short flush per owner, not one per input).

Messages to a process with sockets in rooms the sender owns (sent to its
channel): `room.snapshots`, every snapshot the sender's engines made in one
loop turn for rooms where the receiver has sockets (one message per snapshot
tick per process, not one per room).

Messages to a room's group (every process with sockets in the room):
`room.snapshot` (only where a room's consumers joined its group themselves:
one process, no hubs), `room.frame` (chat, staff notices), `room.kick`,
`room.close`, `room.owner` (a new owner took the lease), `room.owner_gone`
(the owner handed the room over on shutdown).

`origin` is the sender's hub channel (a receiver ignores its own group
messages); `token` is the owner's lease fencing token (gameserver/ownership.py):
a process drops snapshots of a room from an owner older than the newest it
has heard of.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from engine.protocol import MAX_SEQ, ROOM_NAME_PATTERN

MAX_SNAPSHOT_BYTES: Final = 1024 * 1024
"""A snapshot's encoded delta, full state or events frame (200 players fit in far less)."""
MAX_FRAME_BYTES: Final = 64 * 1024
"""A relayed frame (chat line, staff notice) or a close notice."""
MAX_TOKEN: Final = 2**62
"""Fencing tokens are Redis counters (INCR): far below this."""

DROP_REASONS: Final = ("unknown_type", "invalid", "stale_owner")
"""Why a message from another process was dropped (the metric's `reason` label)."""

RoomName = Annotated[str, StringConstraints(pattern=f"^{ROOM_NAME_PATTERN}$", max_length=64)]
Channel = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z\d\-_.]+(![\d\w\-_.]*)?$", max_length=100)
]
"""A channel-layer channel name (Channels' own rule and length limit)."""
UserId = Annotated[int, Field(ge=1, lt=2**63)]
PlayerName = Annotated[str, StringConstraints(min_length=1, max_length=150)]
Token = Annotated[int, Field(ge=0, lt=MAX_TOKEN)]


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
    room: RoomName


# To a room's owner -------------------------------------------------------------------


class Join(_Message):
    """A player's socket in the sender's process entered the room."""

    type: Literal["room.join"] = "room.join"
    user_id: UserId
    name: PlayerName
    origin: Channel


class Leave(_Message):
    """A player's socket in the sender's process left the room."""

    type: Literal["room.leave"] = "room.leave"
    user_id: UserId
    origin: Channel


MAX_INPUT_FIELDS: Final = 32
"""Fields of a forwarded input row (a game's input model is flat and small)."""
MAX_INPUT_STR: Final = 256
"""Characters of one string field of a forwarded input row."""
InputValue = (
    Annotated[int, Field(ge=-MAX_SEQ, lt=MAX_SEQ)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | Annotated[str, StringConstraints(max_length=MAX_INPUT_STR)]
    | None
)
"""One field of an input row: a primitive (the game's model validates it again)."""


Row = Annotated[list[InputValue], Field(min_length=1, max_length=MAX_INPUT_FIELDS)]
"""A validated input as its game's row (`InputBase.to_row()`: the model's fields in
declaration order, `seq` first). Game-agnostic and bounded here; the room's owner
rebuilds it with `input_model.from_row`, validating it against its game's model
again (a row that fails is dropped as `invalid`, the rest of its batch is kept)."""

MAX_BATCH_ROOMS: Final = 1024
"""Rooms in one `room.inputs` batch (a process's rooms at one owner)."""
MAX_BATCH_INPUTS: Final = 4096
"""Inputs of one room in one `room.inputs` batch (the sender flushes long before)."""


class RoomInputs(BaseModel):
    """One room's share of an input batch: `rows[i]` is an input of `users[i]`, in
    the order the sender's sockets received them (so in order per player)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
    room: RoomName
    token: Token = 0
    """The newest owner token of the room the sender has heard of (0: none yet):
    an owner whose own lease token is older is stale and refuses the inputs."""
    users: list[UserId] = Field(min_length=1, max_length=MAX_BATCH_INPUTS)
    rows: list[Row] = Field(min_length=1, max_length=MAX_BATCH_INPUTS)

    @model_validator(mode="after")
    def _paired(self) -> RoomInputs:
        if len(self.users) != len(self.rows):
            raise ValueError("users and rows differ in length")
        return self


class Inputs(BaseModel):
    """Players' inputs for rooms the receiver owns, from the sender's sockets: one
    message per short flush (`gameserver.relay.INPUT_FLUSH_SECONDS`) per owner,
    however many players and rooms it carries."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
    type: Literal["room.inputs"] = "room.inputs"
    origin: Channel
    rooms: list[RoomInputs] = Field(min_length=1, max_length=MAX_BATCH_ROOMS)


class Watch(_Message):
    """A spectator's socket in the sender's process entered the room."""

    type: Literal["room.watch"] = "room.watch"
    origin: Channel


class Unwatch(_Message):
    """A spectator's socket in the sender's process left the room."""

    type: Literal["room.unwatch"] = "room.unwatch"
    user_id: UserId
    origin: Channel


class Subscribe(_Message):
    """The sender has sockets in the room: send it snapshots through the group."""

    type: Literal["room.subscribe"] = "room.subscribe"
    origin: Channel


class Unsubscribe(_Message):
    """The sender has no sockets left in the room."""

    type: Literal["room.unsubscribe"] = "room.unsubscribe"
    origin: Channel


class NeedFull(_Message):
    """A socket in the sender's process waits for a full snapshot."""

    type: Literal["room.need_full"] = "room.need_full"


class Expel(_Message):
    """Staff kicked a player: out of the match now, without a grace period."""

    type: Literal["room.expel"] = "room.expel"
    user_id: UserId


# To a room's group ----------------------------------------------------------------------


class RoomSnapshot(_Message):
    """One snapshot tick of a room's engine, encoded once by its owner: what a
    hub fans out (`delta` to its players, `full` to sockets waiting for one)."""

    tick: int = Field(ge=0, lt=MAX_SEQ)
    delta: bytes = Field(max_length=MAX_SNAPSHOT_BYTES)
    full: bytes | None = Field(default=None, max_length=MAX_SNAPSHOT_BYTES)
    events: bytes | None = Field(default=None, max_length=MAX_SNAPSHOT_BYTES)
    token: Token = 0


class Snapshot(RoomSnapshot):
    """A room's snapshot as a message of its own: what an engine hands its manager,
    and what a group member receives when the room's snapshots go to its group
    (one process without hubs: consumers that joined the group themselves)."""

    type: Literal["room.snapshot"] = "room.snapshot"
    origin: Channel | None = None


MAX_BATCH_BYTES: Final = 4 * 1024 * 1024
"""Snapshot bytes a sender puts in one `room.snapshots` message before starting
another (a single larger snapshot still travels, alone)."""


class Snapshots(BaseModel):
    """The snapshots of one loop turn of the sender's engines, for every room where the
    receiver has sockets: one message per snapshot tick per receiving process, however
    many rooms it carries (the engines of a process tick together when it runs on Redis)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
    type: Literal["room.snapshots"] = "room.snapshots"
    origin: Channel
    snapshots: list[RoomSnapshot] = Field(min_length=1, max_length=MAX_BATCH_ROOMS)


class Frame(_Message):
    """A non-snapshot frame (chat, staff notice) for every socket of the room."""

    type: Literal["room.frame"] = "room.frame"
    data: bytes = Field(max_length=MAX_FRAME_BYTES)
    origin: Channel | None = None


class Kick(_Message):
    """Staff kicked a player: close their sockets with 4011 wherever they are."""

    type: Literal["room.kick"] = "room.kick"
    user_id: UserId
    origin: Channel | None = None


class Close(_Message):
    """The room is gone: close its sockets with `code`, after `notice` if any."""

    type: Literal["room.close"] = "room.close"
    code: int = Field(ge=1000, le=4999)
    notice: bytes | None = Field(default=None, max_length=MAX_FRAME_BYTES)
    origin: Channel | None = None


class Owner(_Message):
    """`owner` took the room's lease with fencing token `token`."""

    type: Literal["room.owner"] = "room.owner"
    owner: Channel
    token: Token = 0
    origin: Channel | None = None


class OwnerGone(_Message):
    """The owner handed the room over (shutdown): a process with sockets takes it."""

    type: Literal["room.owner_gone"] = "room.owner_gone"
    origin: Channel | None = None


ToOwner = Join | Leave | Watch | Unwatch | Subscribe | Unsubscribe | NeedFull | Expel
ToGroup = Snapshot | Frame | Kick | Close | Owner | OwnerGone
Message = ToOwner | ToGroup | Inputs | Snapshots

OWNER_TYPES: Final = frozenset(
    model.model_fields["type"].default for model in ToOwner.__args__
)
"""`type` values of the one-room messages a room's owner handles (`room.inputs`,
which spans rooms, is handled on its own)."""

_ADAPTER: TypeAdapter[Message] = TypeAdapter(
    Annotated[Message, Field(discriminator="type")]
)
_TAG_ERRORS: Final = frozenset({"union_tag_invalid", "union_tag_not_found"})


class MessageError(ValueError):
    """A message from another process is malformed; `reason` is one of DROP_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse(raw: object) -> Message:
    """Validate one channel-layer message; raises only `MessageError`."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        reason = "unknown_type" if errors and errors[0]["type"] in _TAG_ERRORS else "invalid"
        first = errors[0] if errors else {"loc": (), "msg": str(exc)}
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise MessageError(reason, f"{where}: {first['msg']}") from None
    except Exception as exc:  # a hostile object's own methods (e.g. __eq__) may raise
        raise MessageError("invalid", f"{type(exc).__name__}") from None


def to_layer(message: Message) -> dict[str, Any]:
    """The plain dict a channel layer carries (bytes, str, int, float, bool, None only)."""
    return message.model_dump()


__all__ = [
    "DROP_REASONS", "MAX_BATCH_BYTES", "OWNER_TYPES", "Close", "Expel", "Frame", "Inputs",
    "Join", "Kick", "Leave", "Message", "MessageError", "NeedFull", "Owner", "OwnerGone",
    "RoomInputs", "RoomSnapshot", "Row", "Snapshot", "Snapshots", "Subscribe", "ToGroup",
    "ToOwner", "Unsubscribe", "Unwatch", "Watch", "parse", "to_layer",
]
