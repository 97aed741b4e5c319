"""The test kit catches broken games: each check fails on a game that breaks its property."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from pydantic import field_validator

from engine.game import Event
from engine.paddle import GAME, PaddleConfig, PaddleInput, PaddleMatch
from engine.snapcodec import SchemaCodec
from engine.testing import (
    Action,
    Script,
    check_api,
    check_checkpoint,
    check_codec,
    check_determinism,
    check_input_fuzz,
    check_replay,
    check_valid_input,
)

FAST = PaddleConfig(countdown_s=0.05, serve_delay_s=0.05, court_size=4000, paddle_length=1200,
                    ball_radius=80, ball_speed=12000.0, max_ball_speed=30000.0)  # fmt: skip


def _moves(one: int, two: int, ticks: int) -> Script:
    """`ticks` ticks of player 1 holding `dir` `one` and player 2 `two`."""
    def tick() -> list[Action]:
        return [("input", 1, {"dir": one}), ("input", 2, {"dir": two})]

    return [tick() for _ in range(ticks)]


# Two players, a staff start, a reconnect, inputs every tick: serves, hits and points.
SCRIPT: Script = [
    [("join", 1, {}), ("join", 2, {})],
    [("start", 0, {})],
    *_moves(1, -1, 3),
    [("reset", 2, {})],  # mid-move: player 2's paddle stops for a tick
    *_moves(1, -1, 20),
    *_moves(-1, 1, 40),
]
_calls = itertools.count()


class Leaky(PaddleMatch):
    """Shares a counter between matches: the second run differs from the first."""

    def step(self) -> list[Event]:
        if next(_calls) % 5 == 0 and self.player_ids():
            self.reset_inputs(self.player_ids()[0])
        return super().step()


class Forgetful(PaddleMatch):
    """Does not log reconnects: a replay misses them."""

    def reset_inputs(self, player_id: int) -> None:
        keep, self.record_inputs = self.record_inputs, False
        super().reset_inputs(player_id)
        self.record_inputs = keep


def sloppy_restore(data: bytes, record_inputs: bool) -> PaddleMatch:
    """Restores, then loses every player's input stream."""
    m = PaddleMatch.restore(data, record_inputs)
    for pid in m.player_ids():
        m.reset_inputs(pid)
    return m


class Lossy(SchemaCodec):
    """Forgets that the serve tick changed."""

    def apply(self, delta: dict[str, Any], prev_full: dict[str, Any]) -> dict[str, Any]:
        out = super().apply(delta, prev_full)
        out["serve_at"] = prev_full.get("serve_at", 0)
        return out


class Mutating(SchemaCodec):
    """Correct result, but scribbles on its input."""

    def diff(self, prev_full: dict[str, Any], cur_full: dict[str, Any]) -> dict[str, Any]:
        delta = super().diff(prev_full, cur_full)
        prev_full["acks"][-5] = 0
        return delta


class Touchy(PaddleInput):
    """A validator that crashes instead of refusing (raises outside pydantic's errors)."""

    @field_validator("dir")
    @classmethod
    def _no_left(cls, value: int) -> int:
        if value == -1:
            raise KeyError("left")
        return value


def broken(**parts: Any) -> Any:
    return dataclasses.replace(GAME, **parts)


def test_the_real_game_passes() -> None:
    for check in (check_determinism, check_replay, check_codec, check_api):
        check(GAME, FAST, 5, SCRIPT)
    check_checkpoint(GAME, FAST, 5, SCRIPT, 30)


def test_nondeterminism_is_caught() -> None:
    with pytest.raises(AssertionError, match="diverged"):
        check_determinism(broken(create=Leaky), FAST, 5, SCRIPT)


def test_an_incomplete_input_log_is_caught() -> None:
    with pytest.raises(AssertionError, match="replay diverged"):
        check_replay(broken(create=Forgetful), FAST, 5, SCRIPT)


def test_a_lossy_restore_is_caught() -> None:
    with pytest.raises(AssertionError):
        check_checkpoint(broken(restore=sloppy_restore), FAST, 5, SCRIPT, 30)


def test_a_lossy_codec_is_caught() -> None:
    codec = Lossy(GAME.codec.schema)  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="did not rebuild"):
        check_codec(broken(codec=codec), FAST, 5, SCRIPT)


def test_a_mutating_codec_is_caught() -> None:
    codec = Mutating(GAME.codec.schema)  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="mutated"):
        check_codec(broken(codec=codec), FAST, 5, SCRIPT)


def test_undeclared_events_are_caught() -> None:
    with pytest.raises(AssertionError, match="undeclared event kind"):
        check_api(broken(event_kinds=frozenset({"phase", "match_end"})), FAST, 5, SCRIPT)


def test_a_crashing_input_model_is_caught() -> None:
    game = broken(input_model=Touchy)
    check_input_fuzz(game, {"seq": 1, "dir": 1}, b"")
    with pytest.raises(KeyError):
        check_input_fuzz(game, {"seq": 1, "dir": -1}, b"")
    with pytest.raises(KeyError):
        check_valid_input(game, {"dir": -1}, 0)
