"""Match recordings: what re-simulates a match exactly, and their verification.

A :class:`Recorder` rides along a running match (the runtime calls
:meth:`Recorder.after_step` once per step). It keeps the match's
:class:`~engine.inputlog.InputLog` (the game fills it) and, every
``checksum_every`` ticks, a CRC-32 of the match's checkpoint. A recording
covers one played match: it (re)starts when the game's playing phase begins,
from the checkpoint of that moment (its *origin*), and is handed out, finished, at the
``match_end`` event. Outside the playing phase it restarts every
``IDLE_RESTART`` checksum intervals so a room that waits for hours keeps no
more than that.

A :class:`Recording` is game id and version, config, seed, origin, first and
last tick, the checksums and the log; :func:`pack` / :func:`unpack` give its
compressed bytes; :func:`verify` re-simulates it and compares every checksum.
Pure: no Django, no asyncio, no clock.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from engine import replay
from engine.errors import EngineError
from engine.game import AnyGame, Event, Game
from engine.inputlog import InputLog, LogRecord

FORMAT: Final = 1
"""Version of the recording document (:meth:`Recording.to_bytes`)."""
IDLE_RESTART: Final = 60
"""Outside the playing phase, restart the recording every this many checksums."""


def state_checksum(match: Game[Any]) -> int:
    """CRC-32 of the match's checkpoint: equal states give equal checksums."""
    return zlib.crc32(match.checkpoint())


@dataclass(frozen=True)
class Recording:
    """One recorded match (see the module docstring)."""

    game: str
    version: int
    config: dict[str, Any]
    seed: int
    origin: bytes
    """The checkpoint of the state the recording starts from (tick ``first_tick``)."""
    first_tick: int
    last_tick: int
    checksums: tuple[tuple[int, int], ...]
    """``(tick, crc)`` of the state right after step ``tick``, ascending ticks."""
    log: InputLog

    def records(self) -> Iterator[LogRecord]:
        """The recorded calls, decoded, in call order."""
        return iter(self.log)

    def start(self, definition: AnyGame) -> Game[Any]:
        """The match as it was where the recording starts (no input log of its own)."""
        return definition.restore(self.origin, False)

    def to_bytes(self) -> bytes:
        """The document as msgpack (uncompressed); :func:`pack` compresses it."""
        ticks = array("Q", (t for t, _ in self.checksums))
        sums = array("I", (c for _, c in self.checksums))
        doc = {
            "recording": FORMAT, "game": self.game, "version": self.version,
            "config": self.config, "seed": self.seed, "origin": self.origin,
            "first_tick": self.first_tick, "last_tick": self.last_tick,
            "sum_ticks": ticks.tobytes(), "sums": sums.tobytes(), "log": self.log.to_bytes(),
        }
        packed: bytes = msgpack.packb(doc, use_bin_type=True)
        return packed


def pack(recording: Recording) -> bytes:
    """The recording as stored: its document, zlib-compressed."""
    return zlib.compress(recording.to_bytes(), 6)


def unpack(blob: bytes, games: Callable[[str], AnyGame]) -> Recording:
    """Read :func:`pack`'s bytes; ``games(id)`` gives the definition of the recorded game.

    Raises ``ValueError`` on bytes that are not a recording of a known game at its
    current version (``games`` may raise too, for an unknown id).
    """
    try:
        doc = msgpack.unpackb(zlib.decompress(blob), raw=False, strict_map_key=False)
        if not isinstance(doc, dict) or doc.get("recording") != FORMAT:
            raise ValueError(f"not a recording of format {FORMAT}")
        definition = games(str(doc["game"]))
        if doc["version"] != definition.info.version:
            raise ValueError(f"recorded with {doc['game']} version {doc['version']}, "
                             f"this server runs version {definition.info.version}")
        ticks, sums = array("Q"), array("I")
        ticks.frombytes(doc["sum_ticks"])
        sums.frombytes(doc["sums"])
        return Recording(
            game=str(doc["game"]), version=int(doc["version"]), config=dict(doc["config"]),
            seed=int(doc["seed"]), origin=bytes(doc["origin"]), first_tick=int(doc["first_tick"]),
            last_tick=int(doc["last_tick"]),
            checksums=tuple(zip(ticks, sums, strict=True)),
            log=InputLog.from_bytes(doc["log"], definition.input_model),
        )
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise ValueError(f"malformed recording: {exc}") from None


class Recorder:
    """Records the matches a running game plays (see the module docstring).

    ``match`` must have been created (or restored) with ``record_inputs``; the
    first recording starts from its current state.
    """

    def __init__(self, definition: AnyGame, config: Any, match: Game[Any], *,
                 checksum_every: int) -> None:
        if checksum_every < 1:
            raise ValueError("checksum_every must be >= 1")
        self.definition = definition
        self.match = match
        self._config: dict[str, Any] = config.to_dict()
        self._every = checksum_every
        self._playing = definition.info.playing_phase
        self._sums: list[tuple[int, int]] = []
        self._origin = b""
        self._first = match.tick
        self._restart()

    def after_step(self, events: list[Event]) -> Recording | None:
        """Call right after each step with its events; the finished recording at ``match_end``."""
        m = self.match
        finished = None
        for event in events:
            if event.kind == "match_end":
                finished = self.finish()
            elif event.kind == "phase" and event.data.get("phase") == self._playing:
                self._restart()
        if m.tick % self._every == 0 and m.tick != self._first:  # (not at a restart)
            self._sums.append((m.tick, state_checksum(m)))
            if (m.phase != self._playing
                    and m.tick - self._first >= IDLE_RESTART * self._every):
                self._restart()
        return finished

    def nbytes(self) -> int:
        """Bytes the current recording holds (log and checksums; not the origin)."""
        return self.match.input_log.nbytes() + 16 * len(self._sums)

    def finish(self) -> Recording:
        """The recording up to now (with a checksum of the current state); a new one starts."""
        m = self.match
        if not self._sums or self._sums[-1][0] != m.tick:
            self._sums.append((m.tick, state_checksum(m)))
        info = self.definition.info
        done = Recording(
            game=info.id, version=info.version, config=self._config, seed=m.seed,
            origin=self._origin, first_tick=self._first, last_tick=m.tick,
            checksums=tuple(self._sums), log=m.input_log.detach(),
        )
        self._restart()
        return done

    def _restart(self) -> None:
        """A new recording from the current state (what came before is dropped)."""
        m = self.match
        m.input_log.clear()
        self._sums = []
        self._origin = m.checkpoint()
        self._first = m.tick


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: ``checked`` checksums matched; ``bad_tick`` is the first
    tick that differs (None: none did) and ``reason`` says how."""

    checked: int
    bad_tick: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_tick is None


def verify(definition: AnyGame, recording: Recording) -> Verdict:
    """Re-simulate ``recording`` and compare each checksum; the first tick that differs."""
    m = recording.start(definition)
    if m.tick != recording.first_tick:
        return Verdict(0, recording.first_tick, f"the origin is at tick {m.tick}")
    sums = dict(recording.checksums)
    checked = 0

    def step_to(tick: int) -> Verdict | None:
        nonlocal checked
        while m.tick < tick:
            m.step()
            want = sums.get(m.tick)
            if want is not None:
                if state_checksum(m) != want:
                    return Verdict(checked, m.tick, "state checksum differs")
                checked += 1
        return None

    for rec in recording.records():
        if rec.tick > recording.last_tick or rec.tick < m.tick:
            return Verdict(checked, rec.tick, f"a {rec.kind} record out of order")
        bad = step_to(rec.tick)
        if bad is not None:
            return bad
        try:
            replay.apply(m, rec)
        except EngineError as err:
            return Verdict(checked, rec.tick, f"the {rec.kind} of player {rec.player_id} "
                                              f"was refused: {err}")
    bad = step_to(recording.last_tick)
    return bad if bad is not None else Verdict(checked)
