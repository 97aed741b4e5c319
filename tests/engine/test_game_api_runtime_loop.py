"""What the runtime will do with any registered game, through the API and the registry only.

A stand-in for ``gameserver/room.py``'s tick: frames validated with the
game's definition, a snapshot every ``tick_rate / snapshot_rate`` ticks,
encoded once as a delta against the previous one, a client rebuilding the
state from a full snapshot and deltas, a failover through a checkpoint, and
the match's results from its ``match_end`` event.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from engine import EngineError, FrameError, protocol
from engine.game import Event
from engine.registry import load_games

GAMES = load_games()
FAST: dict[str, dict[str, Any]] = {
    "arena": {"countdown_s": 0.2, "match_s": 2.0, "ended_s": 0.2},
    "paddle": {"countdown_s": 0.1, "match_s": 2.0, "ended_s": 0.2, "serve_delay_s": 0.1},
}


# What each game's clients send (clients know their game; the room does not).
PAYLOADS = {
    "arena": lambda rng: {"mx": rng.uniform(-1, 1), "my": rng.uniform(-1, 1),
                          "aim": rng.uniform(-3, 3), "fire": rng.random() < 0.5},
    "paddle": lambda rng: {"dir": rng.choice((-1, 0, 1))},
}


def client_frame(game_id: str, rng: random.Random, seq: int) -> bytes:
    frame = {**PAYLOADS[game_id](rng), "t": "input", "seq": seq}
    if rng.random() < 0.05:
        frame = {"t": "input", "seq": seq, "nonsense": 1}  # another game's, or no game's
    return protocol.encode(frame)


@pytest.mark.parametrize("game_id", list(GAMES))
def test_a_room_loop_hosts_every_registered_game(game_id: str) -> None:
    definition = GAMES[game_id]
    config = definition.configure({**FAST[game_id], "max_players": 3})
    every = config.tick_rate // config.snapshot_rate
    match = definition.create(config, 99, False)
    rng = random.Random(1)
    for uid in (10, 11, 12):
        match.add_player(uid, f"user{uid}")
    with pytest.raises(EngineError) as err:
        match.add_player(13, "late")
    assert err.value.code == "room_full"

    codec = definition.codec
    client: dict[str, Any] | None = None
    prev_full: dict[str, Any] | None = None
    seqs = dict.fromkeys(match.player_ids(), 0)
    refused = 0
    ended: list[Event] = []
    for _ in range(config.tick_rate * 3):
        for uid in match.player_ids():
            seqs[uid] += 1
            try:
                frame = definition.parse_frame(client_frame(game_id, rng, seqs[uid]))
            except FrameError as exc:
                assert exc.code == "invalid" and exc.message.endswith("Field required")
                refused += 1
                continue
            assert isinstance(frame, protocol.InputBase)
            match.submit(uid, frame)
        events = match.step()
        ended += [e for e in events if e.kind == "match_end"]
        if match.tick == config.tick_rate:  # failover: another process restores the room
            match = definition.restore(match.checkpoint(), False)
            for uid in match.player_ids():
                match.reset_inputs(uid)
                seqs[uid] = 0
        if match.tick % every:
            continue
        full = match.snapshot()
        wire = codec.encode(full if prev_full is None else codec.diff(prev_full, full))
        prev_full = full
        client = codec.apply(codec.decode(wire), client or {})
        assert client == full
        assert client["acks"] == match.acks()
    assert refused > 0
    assert ended and ended[0].data["results"][0]["place"] == 1
    assert {row["player_id"] for row in ended[0].data["results"]} == {10, 11, 12}
    assert definition.info.playing_phase in definition.info.phases
