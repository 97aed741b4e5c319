"""The Game API: what the runtime drives, and nothing else.

A game is a :class:`GameDefinition`: who it is (:class:`GameInfo`), its
config type and default config, its input model (a pydantic subclass of
:class:`engine.protocol.InputBase`), its snapshot codec
(:class:`SnapshotCodec`) and two constructors: ``create(config, seed,
record_inputs)`` for a new match and ``restore(checkpoint, record_inputs)``
for a failed-over one. Both return a running match, a :class:`Game`.

The runtime (``gameserver/``), the lobby and the bots use only this module,
:mod:`engine.protocol` and :mod:`engine.registry`; a concrete game
(``engine.arena``, ``engine.paddle``, or a team's own) is reached through the
registry. ``docs/games.md`` is the contract in prose; ``engine.testing``
checks it.

What every :meth:`Game.step` may and may not do: it is a pure function of
the state and the calls made since the last step. No I/O, no clocks, no
threads, no global ``random``: randomness comes from a ``random.Random`` seeded
from the match seed, kept in the state and written into the checkpoint.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar

from pydantic import ValidationError

from engine.errors import EngineError, FrameError
from engine.inputlog import InputLog
from engine.protocol import ChatFrame, ErrorCode, InputBase, PingFrame, parse_client_frame

GAME_ID_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
"""A game id: a lowercase slug (it appears in URLs, settings and checkpoints)."""
PHASE_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
"""A phase name: a short lowercase slug (the lobby's room list and the metrics'
``phase`` label carry it; 16 characters at most)."""
RESERVED_EVENT_KINDS: Final = frozenset({"phase", "match_end"})
"""Event kinds every game emits with a fixed shape (see :class:`Event`)."""


@dataclass(frozen=True)
class Event:
    """Something that happened during a step (or a staff call), for the runtime to announce.

    ``kind`` is one of the game's :attr:`GameDefinition.event_kinds`; ``tick``
    is the tick the step produced; ``data`` holds the kind's fields. Two kinds
    have a fixed shape in every game, because the runtime reads them:

    * ``phase``: ``phase`` (a name from :attr:`GameInfo.phases`), ``ends``
      (tick at which the phase ends by time, 0 = open-ended);
    * ``match_end``: ``results`` (as :meth:`Game.results`).
    """

    kind: str
    tick: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """``{"t": "event", "kind", "tick", **data}`` for the ``events`` frame."""
        return {"t": "event", "kind": self.kind, "tick": self.tick, **self.data}


class GameConfigLike(Protocol):
    """What the runtime reads from any game's config (a frozen dataclass).

    Each game has its own config type with these fields plus its own rules'
    constants; an invalid combination raises ``EngineError("bad_config")``
    from the constructor.
    """

    @property
    def tick_rate(self) -> int: ...
    @property
    def snapshot_rate(self) -> int: ...
    @property
    def min_players(self) -> int: ...
    @property
    def max_players(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...


class SnapshotCodec(Protocol):
    """A game's snapshot wire format.

    Snapshots are plain dicts of ints, strings, lists and int-keyed maps.
    For any two full snapshots ``a`` and ``b`` of the same match::

        apply(decode(encode(diff(a, b))), a) == b
        decode(encode(a)) == a

    and neither ``diff`` nor ``apply`` mutates its arguments. Every full
    snapshot and delta is a map with ``t == "snap"``, ``tick``, ``acks``
    (player id -> last applied seq, -1 none yet) and ``full``.
    """

    def encode(self, snapshot: dict[str, Any]) -> bytes: ...
    def decode(self, data: bytes) -> dict[str, Any]: ...
    def diff(self, prev_full: dict[str, Any], cur_full: dict[str, Any]) -> dict[str, Any]: ...
    def apply(self, delta: dict[str, Any], prev_full: dict[str, Any]) -> dict[str, Any]: ...


InputT_contra = TypeVar("InputT_contra", bound=InputBase, contravariant=True)


class Game(Protocol[InputT_contra]):
    """A running match of some game: the only surface the runtime calls.

    Every method is a deterministic function of the constructor arguments and
    the sequence of calls. Caller mistakes raise :class:`EngineError` with a
    code from :class:`engine.protocol.ErrorCode`; nothing else is raised on
    purpose.
    """

    @property
    def tick(self) -> int:
        """Steps taken so far; the snapshot of the current state carries this tick."""
        ...

    @property
    def phase(self) -> str:
        """The current phase, one of :attr:`GameInfo.phases`."""
        ...

    @property
    def seed(self) -> int: ...

    @property
    def input_log(self) -> InputLog:
        """Every accepted outside call (when created with ``record_inputs``)."""
        ...

    def player_ids(self) -> list[int]:
        """Ids of the players in the match, ascending."""
        ...

    def player_name(self, player_id: int) -> str:
        """The name a player joined with; ``not_in_room`` if unknown."""
        ...

    def add_player(self, player_id: int, name: str) -> None:
        """Join; ``already_joined`` or ``room_full``. Allowed in every phase."""
        ...

    def remove_player(self, player_id: int) -> None:
        """Leave for good; ``not_in_room`` if unknown."""
        ...

    def reset_inputs(self, player_id: int) -> None:
        """A player's connection ended or a new one began (reconnect).

        Drop queued inputs, stop the player's intent, restart its sequence
        numbering (``acks`` shows -1 until the next applied input).
        """
        ...

    def submit(self, player_id: int, inp: InputT_contra) -> bool:
        """Queue a validated input for the next steps; False if its seq is stale."""
        ...

    def acks(self) -> dict[int, int]:
        """Player id -> last applied input seq (-1: none yet), ascending ids."""
        ...

    def step(self) -> list[Event]:
        """Advance one fixed step of ``1 / tick_rate`` s and return its events."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The full snapshot of the current state in wire form (for the game's codec)."""
        ...

    def checkpoint(self) -> bytes:
        """The exact state as bytes; the definition's ``restore`` continues bit-identically."""
        ...

    def results(self) -> list[dict[str, Any]]:
        """Standings of the last ended match (each row has ``player_id``, ``name``,
        ``score``, ``place``), sorted by place; [] if none yet."""
        ...

    def start_now(self) -> list[Event]:
        """Staff: start the match now; ``wrong_phase`` (naming the phase) otherwise."""
        ...

    def end_now(self) -> list[Event]:
        """Staff: end the match now; ``wrong_phase`` (naming the phase) otherwise."""
        ...


@dataclass(frozen=True)
class GameInfo:
    """Who a game is.

    ``id`` is a slug (:data:`GAME_ID_RE`) that names the game in settings,
    URLs and checkpoints; ``version`` is bumped when the rules or the wire
    format change incompatibly; ``phases`` are the phase names, the first
    being the phase a new match starts in. ``playing_phase`` is the phase in
    which a match is being played (the runtime times matches by it).
    """

    id: str
    name: str
    version: int
    phases: tuple[str, ...]
    playing_phase: str = "playing"
    description: str = ""


ConfigT = TypeVar("ConfigT", bound=GameConfigLike)
InputT = TypeVar("InputT", bound=InputBase)


@dataclass(frozen=True)
class GameDefinition(Generic[ConfigT, InputT]):
    """Everything the runtime needs to host a game (see the module docstring).

    ``config_type`` must be a frozen dataclass whose no-argument instance is
    the default config; ``create(config, seed, record_inputs)`` and
    ``restore(checkpoint, record_inputs)`` build a match (``restore`` raises
    ``bad_checkpoint`` on bytes it cannot read, including another game's).
    """

    info: GameInfo
    config_type: type[ConfigT]
    input_model: type[InputT]
    codec: SnapshotCodec
    create: Callable[[ConfigT, int, bool], Game[InputT]]
    restore: Callable[[bytes, bool], Game[InputT]]
    event_kinds: frozenset[str]

    @property
    def id(self) -> str:
        return self.info.id

    def default_config(self) -> ConfigT:
        """The game's default config."""
        return self.config_type()

    def configure(self, overrides: Mapping[str, Any] | None = None) -> ConfigT:
        """The default config with ``overrides``; ``bad_config`` for unknown keys or values."""
        base = self.default_config()
        if not overrides:
            return base
        try:
            return dataclasses.replace(base, **overrides)  # type: ignore[type-var]
        except TypeError as exc:
            raise EngineError(
                ErrorCode.BAD_CONFIG, f"game {self.info.id!r}: {exc}"
            ) from None

    def new_match(
        self, seed: int, config: ConfigT | None = None, record_inputs: bool = True
    ) -> Game[InputT]:
        """A new match in the first phase (``config`` defaults to the default config)."""
        return self.create(config if config is not None else self.default_config(), seed,
                           record_inputs)

    def parse_input(self, fields: Mapping[Any, Any]) -> InputT:
        """Validate an already-decoded ``input`` payload against this game's model.

        Raises :class:`FrameError` ``invalid`` whose message starts with the
        offending field (``"dir: Field required"``), ``bad_frame`` if
        ``fields`` is not a map. Never raises anything else.
        """
        if not isinstance(fields, Mapping):
            raise FrameError(ErrorCode.BAD_FRAME, "frame must be a map")
        data = {k: v for k, v in fields.items() if isinstance(k, str)}
        data.setdefault("t", "input")
        try:
            return self.input_model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "frame"
            raise FrameError(ErrorCode.INVALID, f"{where}: {first['msg']}") from None

    def parse_frame(self, raw: bytes) -> InputT | PingFrame | ChatFrame:
        """:func:`engine.protocol.parse_client_frame` with this game's input model."""
        return parse_client_frame(raw, self.input_model)


AnyGame = GameDefinition[Any, Any]
"""A definition of some game (what the registry hands out)."""
