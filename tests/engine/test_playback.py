"""The playback document (engine.playback) shows what the live match showed.

A match is stepped live, keeping its full snapshot after every step and every
event; the document built from its input log must reproduce that state at
every frame (deltas applied from the start), from every keyframe (seeking),
and carry the same events and results. For both registered games, on a
scripted match with deaths, joins, leaves and reconnects, and on random
scripts of the game test kit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import recording
from engine.arena import GAME as ARENA
from engine.arena import GameConfig
from engine.game import AnyGame, Event, Game
from engine.inputlog import LogRecord
from engine.paddle import GAME as PADDLE
from engine.paddle import PaddleConfig
from engine.playback import PlaybackError, build_playback, frame_ticks
from engine.registry import load_games
from engine.testing import Driver, input_payloads, run_script, scripts
from tests.engine.recording_helpers import SMALL_ARENA, Room, by_id

ARENA_CONFIG = GameConfig(
    max_players=4, min_players=2, countdown_s=0.5, match_s=6.0, ended_s=0.5,
    score_limit=3, pickup_interval_s=0.5, respawn_s=0.3, fire_cooldown_s=0.1,
    projectile_damage=50, map_width=480, map_height=320, walls=((200, 120, 80, 80),),
    spawn_points=((40, 40), (440, 40), (40, 280), (440, 280)),
    pickup_spots=((240, 40), (240, 280)), spawn_clear_radius=40.0,
    tick_rate=20, snapshot_rate=10,
)
PADDLE_CONFIG = PaddleConfig(
    countdown_s=0.05, match_s=4.0, ended_s=0.1, score_limit=3, serve_delay_s=0.05,
    court_size=4000, paddle_length=1200, ball_radius=80, ball_speed=12000.0,
    max_ball_speed=30000.0, ball_speedup=1.2,
)
CONFIGS: dict[str, Any] = {"arena": ARENA_CONFIG, "paddle": PADDLE_CONFIG}


@dataclass
class Live:
    """A match stepped live: its state after every step, and its events."""

    match: Game[Any]
    states: dict[int, dict[str, Any]]
    events: list[dict[str, Any]]


Actions = Callable[[Game[Any], int], list[Event]]
"""The calls made before step ``tick + 1``; returns the events staff calls returned."""


def play(definition: AnyGame, config: Any, seed: int, ticks: int, actions: Actions) -> Live:
    m = definition.create(config, seed, True)
    states = {0: m.snapshot()}
    events: list[dict[str, Any]] = []
    for t in range(ticks):
        events += [e.to_wire() for e in actions(m, t)]
        events += [e.to_wire() for e in m.step()]
        states[m.tick] = m.snapshot()
    return Live(m, states, events)


def document(definition: AnyGame, config: Any, live: Live, **kw: Any) -> dict[str, Any]:
    return build_playback(definition, config, live.match.seed, list(live.match.input_log),
                          live.match.tick, match_id=7, room="r1", **kw)


def check_frames(
    definition: AnyGame, doc: dict[str, Any], states: dict[int, dict[str, Any]]
) -> None:
    """Every frame, played from the start and from its keyframe, is the live state of its tick."""
    codec = definition.codec
    frames, keys = doc["frames"], doc["keyframes"]
    every = max(1, doc["tick_rate"] // doc["snapshot_rate"])
    ticks = [f["tick"] for f in frames]
    assert ticks == frame_ticks(doc["first_tick"], doc["last_tick"], every)
    assert all(t % every == 0 for t in ticks[:-1])
    per_key = doc["keyframe_interval"] // every
    assert keys == list(range(0, len(frames), per_key))
    assert [i for i, f in enumerate(frames) if f["full"]] == keys
    state: dict[str, Any] | None = None
    for i, frame in enumerate(frames):
        state = frame if frame["full"] else codec.apply(frame, state)  # type: ignore[arg-type]
        assert state == states[frame["tick"]], f"frame {i} (tick {frame['tick']}) differs"
    for i in range(len(frames)):
        key = max(k for k in keys if k <= i)
        seek = frames[key]
        assert seek == states[seek["tick"]], f"keyframe {key} differs"
        for frame in frames[key + 1:i + 1]:
            seek = codec.apply(frame, seek)
        assert seek == states[frames[i]["tick"]], f"seek to frame {i} from keyframe {key}"


def arena_fight(m: Game[Any], t: int) -> list[Event]:
    """Four players fight on the small map: joins, a reconnect, a leave, a late join."""
    staff: list[Event] = []
    if t == 0:
        for pid in (1, 2, 3):
            m.add_player(pid, f"p{pid}")
    if t == 25:
        m.add_player(4, "late")
    if t == 40:
        m.reset_inputs(2)  # a reconnect: seqs start again
    if t == 70:
        m.remove_player(3)
    snap = m.snapshot()
    players = snap["players"]
    for pid in m.player_ids():
        me = players[pid]
        others = [o for o in players if o != pid]
        if not others:
            continue
        target = players[others[(t // 30) % len(others)]]
        aim = math.atan2(target[1] - me[1], target[0] - me[0])
        seq = t if pid != 2 or t < 40 else t - 40
        frame = ARENA.parse_input({"seq": seq, "mx": math.cos(t / 9 + pid), "my": math.sin(t / 7),
                                   "aim": aim, "fire": t % 3 == pid % 3})
        m.submit(pid, frame)
    return staff


def paddle_rally(m: Game[Any], t: int) -> list[Event]:
    """Three paddles, one leaves; the staff starts the match early and ends it."""
    staff: list[Event] = []
    if t == 0:
        for pid in (1, 2, 3):
            m.add_player(pid, f"p{pid}")
        staff += m.start_now()
    if t == 90:
        m.remove_player(3)
    if t == 200 and m.phase == "playing":
        staff += m.end_now()
    for pid in m.player_ids():
        m.submit(pid, PADDLE.parse_input({"seq": t, "dir": (1, 0, -1)[(t // 15 + pid) % 3]}))
    return staff


@pytest.mark.parametrize(("definition", "actions", "ticks"), [
    (ARENA, arena_fight, 160),
    (PADDLE, paddle_rally, 260),
])
def test_document_reproduces_every_frame_and_keyframe(
    definition: AnyGame, actions: Actions, ticks: int
) -> None:
    config = CONFIGS[definition.id]
    live = play(definition, config, 11, ticks, actions)
    doc = document(definition, config, live, keyframe_seconds=1)
    check_frames(definition, doc, live.states)
    assert len(doc["keyframes"]) > 3, "the match spans several keyframes"
    assert doc["events"] == live.events
    assert doc["results"] == live.match.results()
    assert doc["players"] == [{"id": 1, "name": "p1"}, {"id": 2, "name": "p2"},
                              {"id": 3, "name": "p3"}, *(
                                  [{"id": 4, "name": "late"}] if definition is ARENA else [])]
    assert {k: doc[k] for k in ("t", "v", "match_id", "game", "room", "tick_rate",
                                "snapshot_rate", "last_tick")} == {
        "t": "replay", "v": 1, "match_id": 7, "game": definition.id, "room": "r1",
        "tick_rate": config.tick_rate, "snapshot_rate": config.snapshot_rate, "last_tick": ticks,
    }
    kinds = {e["kind"] for e in doc["events"]}
    wanted = {"kill", "death", "respawn", "phase"} if definition is ARENA else {
        "score", "phase", "match_end"}
    assert wanted <= kinds, f"the scripted match lacks {wanted - kinds}"


def test_a_document_from_an_origin_checkpoint() -> None:
    """A recording that starts mid-room (at its checkpoint) plays from there."""
    saved: dict[str, bytes] = {}

    def fight_and_save(m: Game[Any], t: int) -> list[Event]:
        if t == 51:
            saved["origin"] = m.checkpoint()  # the state right after step 51
        return arena_fight(m, t)

    live = play(ARENA, ARENA_CONFIG, 9, 140, fight_and_save)
    records = [r for r in live.match.input_log if r.tick >= 51]
    doc = build_playback(ARENA, ARENA_CONFIG, 0, records, 140, match_id=2, room="r",
                         keyframe_seconds=1, origin=saved["origin"])
    assert doc["first_tick"] == 52
    check_frames(ARENA, doc, live.states)
    assert doc["events"] == [e for e in live.events if e["tick"] > 51]
    assert [p["id"] for p in doc["players"]] == [1, 2, 3, 4], "those in the origin, by id"
    with pytest.raises(PlaybackError, match="cannot start"):
        build_playback(ARENA, ARENA_CONFIG, 0, records, 140, match_id=2, room="r",
                       origin=b"not a checkpoint")
    with pytest.raises(PlaybackError, match="last_tick must be >= 51"):
        build_playback(ARENA, ARENA_CONFIG, 0, records, 50, match_id=2, room="r",
                       origin=saved["origin"])


def test_frames_are_the_live_snapshot_interval_and_keyframes_its_seconds() -> None:
    live = play(ARENA, ARENA_CONFIG, 3, 95, arena_fight)
    doc = document(ARENA, ARENA_CONFIG, live, keyframe_seconds=2)
    # 20 ticks/s, 10 snapshots/s: a frame every 2 ticks, a keyframe every 40 ticks.
    assert doc["first_tick"] == 2 and doc["keyframe_interval"] == 40
    ticks = [f["tick"] for f in doc["frames"]]
    assert ticks[:3] == [2, 4, 6] and ticks[-2:] == [94, 95], "the last tick is always a frame"
    assert doc["keyframes"] == [0, 20, 40]


def test_the_state_of_a_tick_excludes_calls_made_after_its_step() -> None:
    live = play(ARENA, ARENA_CONFIG, 3, 30, arena_fight)
    log = list(live.match.input_log)
    # A call stamped with the last tick is not part of that tick's state.
    later = [*log, LogRecord(30, 9, "join", "ghost")]
    doc = build_playback(ARENA, ARENA_CONFIG, 3, later, 30, match_id=1, room="r")
    assert doc["frames"][-1]["tick"] == 30
    assert 9 not in {p["id"] for p in doc["players"]}
    check_frames(ARENA, doc, live.states)


def test_the_document_survives_msgpack_and_json() -> None:
    live = play(PADDLE, PADDLE_CONFIG, 5, 80, paddle_rally)
    doc = document(PADDLE, PADDLE_CONFIG, live)
    packed = msgpack.unpackb(msgpack.packb(doc, use_bin_type=True), raw=False,
                             strict_map_key=False)
    assert packed == doc
    # JSON turns the int keys of entity maps into strings, as JS objects have them.
    assert json.loads(json.dumps(doc))["frames"][0]["paddles"].keys() == {"1", "2", "3"}


def test_bad_recordings_are_refused_with_the_tick() -> None:
    live = play(ARENA, ARENA_CONFIG, 3, 30, arena_fight)
    log = list(live.match.input_log)
    with pytest.raises(PlaybackError, match="tick 0: leave of player 42"):
        build_playback(ARENA, ARENA_CONFIG, 3, [LogRecord(0, 42, "leave"), *log], 30,
                       match_id=1, room="r")
    with pytest.raises(PlaybackError, match="stamped tick 1"):
        build_playback(ARENA, ARENA_CONFIG, 3, [*log, LogRecord(1, 1, "reset")], 30,
                       match_id=1, room="r")
    with pytest.raises(PlaybackError, match="last_tick"):
        build_playback(ARENA, ARENA_CONFIG, 3, log, -1, match_id=1, room="r")
    with pytest.raises(PlaybackError, match="keyframe_seconds"):
        build_playback(ARENA, ARENA_CONFIG, 3, log, 30, match_id=1, room="r",
                       keyframe_seconds=0)


def test_an_empty_recording_is_a_document_of_empty_frames() -> None:
    doc = build_playback(PADDLE, PADDLE_CONFIG, 1, [], 7, match_id=1, room="r")
    assert [f["tick"] for f in doc["frames"]] == [2, 4, 6, 7]
    assert doc["players"] == [] and doc["results"] == [] and doc["keyframes"] == [0]


@pytest.mark.parametrize("game_id", sorted(load_games()))
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_scripts_of_every_registered_game(game_id: str, data: st.DataObject) -> None:
    definition = load_games()[game_id]
    config = CONFIGS[game_id]
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    script = data.draw(scripts(definition, input_payloads(definition.input_model), 90,
                               config.max_players), label="script")
    states: dict[int, dict[str, Any]] = {}

    def observe(d: Driver, _events: list[Event]) -> None:
        states[d.match.tick] = d.match.snapshot()

    m = run_script(definition, config, seed, script, observe).match
    doc = build_playback(definition, config, seed, list(m.input_log), m.tick, match_id=1,
                         room="r", keyframe_seconds=0.5)
    check_frames(definition, doc, states)
    assert doc["results"] == m.results()


def test_a_recorders_recording_plays_back_as_the_room_showed_it() -> None:
    """What the runtime stores (engine.recording: from the checkpoint where play began
    to match_end) becomes a document that shows every live state of the match."""
    config = ARENA.configure({**SMALL_ARENA, "match_s": 6.0})
    room = Room(ARENA, config, seed=4)
    for pid in (1, 2, 3):
        room.join(pid)
    states: dict[int, dict[str, Any]] = {}
    for _ in range(1000):
        if room.match.tick == 60:
            room.join(4)
        room.arena_inputs()
        room.step()
        states[room.match.tick] = room.match.snapshot()
        if room.finished:
            break
    rec = recording.unpack(recording.pack(room.finished[0]), by_id(ARENA).__getitem__)
    doc = build_playback(ARENA, config, rec.seed, rec.records(), rec.last_tick, match_id=1,
                         room="r", origin=rec.origin)
    assert doc["first_tick"] == rec.first_tick + 1 and doc["last_tick"] == rec.last_tick
    check_frames(ARENA, doc, states)
    assert doc["events"] == [e.to_wire() for e in room.events
                             if rec.first_tick < e.tick <= rec.last_tick]
    assert doc["events"][-1]["kind"] == "match_end"
    assert doc["results"] == doc["events"][-1]["results"]
