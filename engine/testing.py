"""The test kit every game gets for free (``docs/games.md`` "Testing a game").

Subclass :class:`GameContract` in a pytest module, name your game, and the
kit checks what the runtime relies on, as hypothesis properties over random
scripts of joins, leaves, reconnects, inputs and staff calls::

    from engine.testing import GameContract
    from mygame import GAME, MyConfig

    class TestMyGameContract(GameContract):
        definition = GAME
        config = MyConfig(countdown_s=0.1)   # optional: a config that reaches play fast
        examples = 25                        # hypothesis examples per property

The properties (each also a plain function, for your own tests):

* :func:`check_determinism`: two matches, same seed, same script -> the same
  checkpoint bytes, snapshot bytes and events after every tick;
* :func:`check_replay`: the input log (through its bytes) replayed into a new
  match reproduces the final checkpoint;
* :func:`check_codec`: for snapshots ``a``, ``b`` (consecutive and further
  apart) ``apply(decode(encode(diff(a, b))), a) == b``, full snapshots
  survive encode/decode, and neither diff nor apply mutates its arguments;
* :func:`check_recording`: the match recorded by :class:`engine.recording.Recorder`
  (joins, leaves, reconnects, staff calls; one recording per played match),
  packed and unpacked, re-simulates with every checksum equal
  (:func:`engine.recording.verify`);
* :func:`check_checkpoint`: a match restored from a mid-match checkpoint
  equals the original and continues identically;
* :func:`check_api`: phases, events, acks, names and results keep the Game
  API's shapes;
* :func:`check_input_fuzz` / :func:`check_valid_input`: random payloads and
  random bytes only ever raise ``FrameError``; valid payloads are accepted
  and survive the input log's row form.

This module is the engine's only one that imports hypothesis (a test
dependency); the runtime never imports it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import recording, replay
from engine.errors import EngineError, FrameError
from engine.game import AnyGame, Event, Game
from engine.inputlog import InputLog
from engine.protocol import MAX_SEQ, ErrorCode, InputBase, encode, events

ActionKind = Literal["join", "leave", "reset", "input", "stale", "start", "end"]
Action = tuple[ActionKind, int, dict[str, Any]]
"""``(kind, player id, input payload without t/seq)``; the payload is {} but for inputs."""
Script = list[list[Action]]
"""One list of actions per tick; the tick is stepped after its actions."""


# -- strategies -------------------------------------------------------------------


def _field_strategy(name: str, spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "anyOf" in spec:
        return st.one_of(*(_field_strategy(name, s) for s in spec["anyOf"]))
    if "const" in spec:
        return st.just(spec["const"])
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    kind = spec.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        lo = spec.get("minimum", spec.get("exclusiveMinimum", -(2**31) - 1) + 1)
        hi = spec.get("maximum", spec.get("exclusiveMaximum", 2**31 + 1) - 1)
        return st.integers(lo, hi)
    if kind == "number":
        return st.floats(
            min_value=spec.get("minimum", spec.get("exclusiveMinimum", -1e9)),
            max_value=spec.get("maximum", spec.get("exclusiveMaximum", 1e9)),
            exclude_min="exclusiveMinimum" in spec,
            exclude_max="exclusiveMaximum" in spec,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "string":
        return st.text(min_size=spec.get("minLength", 0), max_size=spec.get("maxLength", 32))
    raise TypeError(
        f"engine.testing cannot generate input field {name!r} ({spec}); "
        "override GameContract.inputs() with a strategy for your payloads"
    )


def input_payloads(model: type[InputBase]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid payloads (without ``t``/``seq``) of a flat input model, from its JSON schema.

    Optional fields are sometimes left out. Handles ints, numbers, bools,
    strings, literals/enums and optionals; anything else raises ``TypeError``
    asking for a hand-written strategy.
    """
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    fixed: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, spec in schema.get("properties", {}).items():
        if name in ("t", "seq"):
            continue
        (fixed if name in required else optional)[name] = _field_strategy(name, spec)
    return st.fixed_dictionaries(fixed, optional=optional)


def scripts(
    definition: AnyGame,
    payloads: st.SearchStrategy[dict[str, Any]],
    max_ticks: int = 120,
    max_players: int | None = None,
    min_ticks: int = 30,
) -> st.SearchStrategy[Script]:
    """Random scripts: a first tick where 0..max_players players join, then
    ``min_ticks``..``max_ticks`` ticks of mostly inputs, with joins (ids up to
    one more than the seats), leaves, reconnects, stale seqs and staff
    start/end calls."""
    seats = max_players or definition.default_config().max_players
    pids = st.integers(1, min(seats + 1, 9))
    actions: st.SearchStrategy[Action] = st.one_of(
        st.tuples(st.just("input"), pids, payloads),
        st.tuples(st.just("input"), pids, payloads),
        st.tuples(st.just("input"), pids, payloads),
        st.tuples(st.just("stale"), pids, payloads),
        st.tuples(st.sampled_from(["join", "join", "leave", "reset"]), pids, st.just({})),
        st.tuples(st.sampled_from(["start", "end"]), st.just(0), st.just({})),
    )
    lineup: st.SearchStrategy[list[Action]] = st.integers(0, min(seats, 8)).map(
        lambda n: [("join", pid, {}) for pid in range(1, n + 1)]
    )
    body = st.lists(st.lists(actions, max_size=4), min_size=min(min_ticks, max_ticks),
                    max_size=max_ticks)
    return st.tuples(lineup, body).map(lambda parts: [list(parts[0]), *parts[1]])


# -- driving a match ---------------------------------------------------------------------


@dataclass
class Driver:
    """Applies script actions to one match, numbering each player's inputs.

    ``outcomes`` records what every call returned or the error code it
    raised, so two runs can be compared call by call.
    """

    definition: AnyGame
    match: Game[Any]
    seqs: dict[int, int] = field(default_factory=dict)
    outcomes: list[Any] = field(default_factory=list)
    staff_events: list[Event] = field(default_factory=list)
    """Events returned by staff calls (the runtime announces them with the next step's)."""

    def apply(self, action: Action) -> None:
        kind, pid, payload = action
        m = self.match
        try:
            if kind == "join":
                m.add_player(pid, f"p{pid}")
                result: Any = None
            elif kind == "leave":
                m.remove_player(pid)
                result = None
            elif kind == "reset":
                m.reset_inputs(pid)
                result = None
            elif kind in ("start", "end"):
                evts = m.start_now() if kind == "start" else m.end_now()
                self.staff_events.extend(evts)
                result = [e.to_wire() for e in evts]
            else:
                seq = self.seqs.get(pid, -1) + 1
                if kind == "stale":
                    seq = max(0, seq - 2)  # an old seq (refused unless none was used yet)
                else:
                    self.seqs[pid] = seq
                inp = self.definition.parse_input({**payload, "seq": seq})
                result = m.submit(pid, inp)
        except EngineError as err:
            assert not isinstance(err, FrameError), f"a generated payload was refused: {err}"
            result = ("error", err.code)
        self.outcomes.append(result)

    def tick(self, actions: list[Action]) -> list[Event]:
        for action in actions:
            self.apply(action)
        return self.match.step()


def run_script(
    definition: AnyGame,
    config: Any,
    seed: int,
    script: Script,
    observe: Callable[[Driver, list[Event]], None] | None = None,
    driver: Driver | None = None,
    record_inputs: bool = True,
) -> Driver:
    """Play ``script`` on a new match (or ``driver``'s), calling ``observe`` after each step."""
    if driver is None:
        driver = Driver(definition, definition.create(config, seed, record_inputs))
    for actions in script:
        evts = driver.tick(actions)
        if observe is not None:
            observe(driver, evts)
    return driver


def _trace(definition: AnyGame) -> tuple[list[Any], Callable[[Driver, list[Event]], None]]:
    out: list[Any] = []

    def observe(d: Driver, evts: list[Event]) -> None:
        out.append((d.match.tick, d.match.checkpoint(),
                    definition.codec.encode(d.match.snapshot()),
                    [e.to_wire() for e in evts], list(d.outcomes)))

    return out, observe


# -- the properties --------------------------------------------------------------------------


def check_determinism(definition: AnyGame, config: Any, seed: int, script: Script) -> None:
    """Same seed and script: the same checkpoint, snapshot bytes and events every tick."""
    first, observe_a = _trace(definition)
    second, observe_b = _trace(definition)
    run_script(definition, config, seed, script, observe_a)
    run_script(definition, config, seed, script, observe_b)
    for a, b in zip(first, second, strict=True):
        assert a == b, f"two runs diverged at tick {a[0]}"


def check_replay(definition: AnyGame, config: Any, seed: int, script: Script) -> None:
    """The input log, through its bytes, replayed into a new match gives the same
    checkpoint after every tick (:func:`engine.replay.run`, one tick at a time)."""
    saved: dict[int, bytes] = {}

    def observe(d: Driver, _evts: list[Event]) -> None:
        saved[d.match.tick] = d.match.checkpoint()

    m = run_script(definition, config, seed, script, observe).match
    log = InputLog.from_bytes(m.input_log.to_bytes(), definition.input_model)
    assert [tuple(r[:4]) for r in log] == [tuple(r[:4]) for r in m.input_log]
    assert [r.frame for r in log] == [r.frame for r in m.input_log]
    by_tick: dict[int, list[Any]] = {}
    for rec in log:
        by_tick.setdefault(rec.tick, []).append(rec)
    rebuilt = definition.create(config, seed, False)
    for tick in range(1, m.tick + 1):
        replay.run(rebuilt, by_tick.get(tick - 1, []), tick)
        assert rebuilt.tick == tick
        assert rebuilt.checkpoint() == saved[tick], f"replay diverged at tick {tick}"


def check_recording(
    definition: AnyGame, config: Any, seed: int, script: Script, checksum_every: int = 1
) -> None:
    """Record the script's match as the runtime does (staff calls' events with the next
    step's); every recording, through its packed bytes, verifies."""
    driver = Driver(definition, definition.create(config, seed, True))
    recorder = recording.Recorder(definition, config, driver.match,
                                  checksum_every=checksum_every)
    done: list[recording.Recording] = []
    for actions in script:
        evts = driver.tick(actions)
        finished = recorder.after_step([*driver.staff_events, *evts])
        driver.staff_events.clear()
        if finished is not None:
            done.append(finished)
    done.append(recorder.finish())
    assert done[-1].last_tick == driver.match.tick
    for rec in done:
        back = recording.unpack(recording.pack(rec), {definition.info.id: definition}.__getitem__)
        assert list(back.records()) == list(rec.records())
        verdict = recording.verify(definition, back)
        assert verdict.ok, (f"the recording of ticks {rec.first_tick}..{rec.last_tick} "
                            f"diverged at tick {verdict.bad_tick}: {verdict.reason}")


def check_codec(
    definition: AnyGame, config: Any, seed: int, script: Script, stride: int = 3
) -> None:
    """Deltas between snapshots (1 and ``stride`` ticks apart) rebuild the later one."""
    codec = definition.codec
    snaps: list[dict[str, Any]] = []

    def observe(d: Driver, _evts: list[Event]) -> None:
        snap = d.match.snapshot()
        assert snap["t"] == "snap" and snap["full"] is True
        assert snap["tick"] == d.match.tick
        assert snap["acks"] == d.match.acks()
        assert list(snap["acks"]) == d.match.player_ids()
        snaps.append(snap)

    run_script(definition, config, seed, script, observe)
    for i, cur in enumerate(snaps):
        assert codec.decode(codec.encode(cur)) == cur, (
            f"full snapshot at tick {cur['tick']} did not survive encode/decode"
        )
        assert codec.apply(cur, {}) == cur, f"full snapshot at tick {cur['tick']} did not rebuild"
        for gap in (1, stride):
            if i < gap:
                continue
            prev = snaps[i - gap]
            before = (copy.deepcopy(prev), copy.deepcopy(cur))
            delta = codec.diff(prev, cur)
            assert (prev, cur) == before, "diff mutated its arguments"
            assert delta["t"] == "snap" and delta["full"] is False
            assert delta["tick"] == cur["tick"] and delta["acks"] == cur["acks"]
            wire = codec.decode(codec.encode(delta))
            rebuilt = codec.apply(wire, prev)
            assert (prev, cur) == before, "apply mutated its arguments"
            assert rebuilt == cur, f"delta {prev['tick']} -> {cur['tick']} did not rebuild"


def check_checkpoint(
    definition: AnyGame, config: Any, seed: int, script: Script, cut: int
) -> None:
    """Restore at ``cut`` ticks in: same state, and the rest of the script plays the same."""
    cut = max(0, min(cut, len(script)))
    original = run_script(definition, config, seed, script[:cut])
    data = original.match.checkpoint()
    restored = Driver(definition, definition.restore(data, True), dict(original.seqs))
    assert restored.match.checkpoint() == data
    assert restored.match.snapshot() == original.match.snapshot()
    assert restored.match.tick == original.match.tick
    assert restored.match.phase == original.match.phase
    assert restored.match.results() == original.match.results()
    for actions in script[cut:]:
        a = [e.to_wire() for e in original.tick(actions)]
        b = [e.to_wire() for e in restored.tick(actions)]
        assert a == b, f"events diverged at tick {original.match.tick}"
        assert original.match.checkpoint() == restored.match.checkpoint(), (
            f"restored match diverged at tick {original.match.tick}"
        )


def check_api(definition: AnyGame, config: Any, seed: int, script: Script) -> None:
    """Phases, events, acks, names and results keep the API's shapes every tick."""
    info = definition.info
    fresh = definition.create(config, seed, True)
    assert fresh.tick == 0 and fresh.phase == info.phases[0] and fresh.player_ids() == []
    assert fresh.seed == seed

    def observe(d: Driver, evts: list[Event]) -> None:
        m = d.match
        assert m.phase in info.phases, f"phase {m.phase!r} not in {info.phases}"
        ids = m.player_ids()
        assert ids == sorted(ids) and list(m.acks()) == ids
        assert all(isinstance(m.player_name(pid), str) for pid in ids)
        for e in evts:
            assert e.kind in definition.event_kinds, f"undeclared event kind {e.kind!r}"
            assert e.tick == m.tick
            wire = e.to_wire()
            assert wire["t"] == "event" and wire["kind"] == e.kind and wire["tick"] == m.tick
            if e.kind == "phase":
                assert e.data["phase"] in info.phases and isinstance(e.data["ends"], int)
            elif e.kind == "match_end":
                assert e.data["results"] == m.results()
        encode({"t": "x", "e": [e.to_wire() for e in evts]})  # msgpack-encodable
        events(m.tick, [e.to_wire() for e in evts])
        for place, row in enumerate(m.results(), start=1):
            assert row["place"] == place
            assert {"player_id", "name", "score", "place"} <= set(row)

    run_script(definition, config, seed, script, observe)
    for bad in (b"", b"\x80", msgpack.packb({"v": -1})):
        try:
            definition.restore(bad, True)
        except EngineError as err:
            assert err.code == ErrorCode.BAD_CHECKPOINT, err
        else:
            raise AssertionError(f"restore accepted {bad!r}")


_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats()
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=6,
)


def fuzz_payloads(model: type[InputBase]) -> st.SearchStrategy[dict[Any, Any]]:
    """Near-valid and hostile payloads: the model's keys and others, any values."""
    keys = [*model.model_fields, "t", "seq"]
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=6) | st.integers(),
                           _JUNK, max_size=8)


def check_input_fuzz(definition: AnyGame, payload: Any, raw: bytes) -> None:
    """Payloads and raw frames either validate or raise :class:`FrameError`, nothing else."""
    try:
        inp = definition.parse_input(payload)
    except FrameError as err:
        assert err.code in (ErrorCode.INVALID, ErrorCode.BAD_FRAME), err
        assert err.message.split(":")[0], "the message names the field"
    else:
        assert isinstance(inp, definition.input_model)
        assert 0 <= inp.seq < MAX_SEQ
    for frame in (raw, _pack({**payload, "t": "input"}) if isinstance(payload, dict) else raw):
        try:
            definition.parse_frame(frame)
        except FrameError as err:
            assert err.code in (ErrorCode.INVALID, ErrorCode.BAD_FRAME, ErrorCode.UNKNOWN_TYPE)


def _pack(obj: Any) -> bytes:
    try:
        packed: bytes = msgpack.packb(obj, use_bin_type=True)
    except Exception:  # unpackable junk (huge ints): the frame is simply garbage
        return b"\xc1"
    return packed


def check_valid_input(definition: AnyGame, payload: dict[str, Any], seq: int) -> None:
    """A valid payload is accepted, as a dict and as a frame, and survives its row form."""
    inp = definition.parse_input({**payload, "seq": seq})
    assert isinstance(inp, definition.input_model) and inp.seq == seq
    assert definition.input_model.from_row(inp.to_row()) == inp
    assert definition.parse_frame(encode({**payload, "seq": seq, "t": "input"})) == inp


# -- the pytest base class -----------------------------------------------------------------------


class GameContract:
    """Subclass with ``definition = GAME`` (and optionally ``config``, ``examples``,
    ``max_ticks``); pytest then runs every ``test_*`` below for that game."""

    definition: ClassVar[AnyGame]
    config: ClassVar[Any] = None
    """The config the properties run with (None: the game's default)."""
    examples: ClassVar[int] = 25
    max_ticks: ClassVar[int] = 120

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each subclass gets its own hypothesis-wrapped copies, with its own
        # example count; the undecorated bodies stay on GameContract.
        for name, body in _CONTRACT_TESTS.items():
            wrapped = given(data=st.data())(body)
            setattr(cls, name, settings(
                max_examples=cls.examples,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )(wrapped))

    def game_config(self) -> Any:
        return self.config if self.config is not None else self.definition.default_config()

    def inputs(self) -> st.SearchStrategy[dict[str, Any]]:
        """Valid payloads (without t/seq); override for models the schema reader can't do."""
        return input_payloads(self.definition.input_model)

    def draw_script(self, data: st.DataObject) -> tuple[int, Script]:
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        script = data.draw(scripts(self.definition, self.inputs(), self.max_ticks,
                                   self.game_config().max_players), label="script")
        return seed, script


def _determinism(self: GameContract, data: st.DataObject) -> None:
    seed, script = self.draw_script(data)
    check_determinism(self.definition, self.game_config(), seed, script)


def _replay(self: GameContract, data: st.DataObject) -> None:
    seed, script = self.draw_script(data)
    check_replay(self.definition, self.game_config(), seed, script)


def _recording(self: GameContract, data: st.DataObject) -> None:
    seed, script = self.draw_script(data)
    check_recording(self.definition, self.game_config(), seed, script,
                    data.draw(st.integers(1, 7), label="checksum_every"))


def _codec(self: GameContract, data: st.DataObject) -> None:
    seed, script = self.draw_script(data)
    check_codec(self.definition, self.game_config(), seed, script,
                data.draw(st.integers(2, 10), label="stride"))


def _checkpoint(self: GameContract, data: st.DataObject) -> None:
    seed, script = self.draw_script(data)
    cut = data.draw(st.integers(0, len(script)), label="cut")
    check_checkpoint(self.definition, self.game_config(), seed, script, cut)


def _api(self: GameContract, data: st.DataObject) -> None:
    seed, script = self.draw_script(data)
    check_api(self.definition, self.game_config(), seed, script)


def _input_fuzz(self: GameContract, data: st.DataObject) -> None:
    payload = data.draw(fuzz_payloads(self.definition.input_model), label="payload")
    raw = data.draw(st.binary(max_size=64), label="raw")
    check_input_fuzz(self.definition, payload, raw)


def _valid_input(self: GameContract, data: st.DataObject) -> None:
    payload = data.draw(self.inputs(), label="payload")
    check_valid_input(self.definition, payload, data.draw(st.integers(0, MAX_SEQ - 1)))


_CONTRACT_TESTS: dict[str, Callable[[GameContract, st.DataObject], None]] = {
    "test_determinism": _determinism,
    "test_replay": _replay,
    "test_recording_verifies": _recording,
    "test_codec_round_trip": _codec,
    "test_checkpoint_restore": _checkpoint,
    "test_api_shapes": _api,
    "test_input_fuzz": _input_fuzz,
    "test_valid_inputs_accepted": _valid_input,
}
