"""Messages between processes: malformed ones on a manager's channel are counted and dropped.

Through the real in-process channel layer and the real ASGI application:
whatever lands on the room manager's channel, the room keeps ticking and its
player keeps getting snapshots. (The same over Redis, against live daphne
processes: tests/e2e/test_cluster_trust.py.)
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from gameserver import interprocess
from lobby import push
from tests.gameserver.game_client import GameClient, new_guest

pytestmark = pytest.mark.django_db(transaction=True)


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value(
        "arena_cluster_messages_dropped_total", {"reason": reason}
    ) or 0.0


def malformed(room: str, user_id: int) -> list[tuple[str, dict[str, Any]]]:
    """(expected drop reason, message) pairs: every way a message can be wrong."""
    # An input travels as its game's row (InputBase.to_row): seq, mx, my, aim, fire, tick.
    good_input = {"type": "room.input", "room": room, "user_id": user_id,
                  "row": [1000, 1.0, 0.0, 0.0, False, None]}
    return [
        ("unknown_type", {"type": "room.nuke", "room": room}),
        ("unknown_type", {"room": room, "user_id": user_id}),
        ("unknown_type", {"type": 7, "room": room}),
        ("invalid", {**good_input, "user_id": str(user_id)}),  # wrong type
        ("invalid", {k: v for k, v in good_input.items() if k != "row"}),  # missing field
        ("invalid", {**good_input, "room": "../../etc"}),  # bad room name
        ("invalid", {**good_input, "row": [2**60, 1.0, 0.0, 0.0, False, None]}),  # huge value
        ("invalid", {**good_input, "row": [1000, math.nan, 0.0, 0.0, False, None]}),
        ("invalid", {**good_input, "row": [1000, [1.0], 0.0, 0.0, False, None]}),  # nested
        ("invalid", {**good_input, "row": [0] * 33}),  # too many fields
        ("invalid", {**good_input, "row": []}),
        ("invalid", {**good_input, "row": ["x" * 300]}),  # too long a string
        ("invalid", {**good_input, "admin": True}),  # extra field
        # Valid messages, but not valid inputs of the room's game (the arena):
        # the owner validates the row with the game's model and drops it.
        ("invalid", {**good_input, "row": [1000, 50.0, 0.0, 0.0, False, None]}),  # range
        ("invalid", {**good_input, "row": [1000, 1.0, 0.0, 0.0, 1, None]}),  # int for bool
        ("invalid", {**good_input, "row": [1000, 1]}),  # another game's row (paddle's)
        ("invalid", {"type": "room.join", "room": room, "user_id": 99, "name": "x" * 5000,
                     "origin": "hub.x"}),
        ("invalid", {"type": "room.snapshot", "room": room, "tick": 1,
                     "delta": b"\0" * (interprocess.MAX_SNAPSHOT_BYTES + 1)}),
        ("invalid", {"type": "room.close", "room": room, "code": 99_999}),
        ("invalid", {"type": "room.frame", "room": room, "data": "not bytes"}),
    ]


async def joined(room: str) -> tuple[GameClient, int]:
    user_id, token = await new_guest("ann")
    client = GameClient(room, token)
    assert (await client.connect())["t"] == "welcome"
    await client.until(lambda f: f["t"] == "snap")
    return client, user_id


async def test_malformed_messages_are_counted_dropped_and_the_room_keeps_ticking() -> None:
    from gameserver.manager import get_manager

    client, user_id = await joined("trust-1")
    manager = get_manager()
    assert manager.channel is not None
    position = client.player(user_id)[:2]
    cases = malformed("trust-1", user_id)
    expected = {reason: dropped(reason) for reason in interprocess.DROP_REASONS}
    for reason, _ in cases:
        expected[reason] += 1
    layer = push.channel_layer()
    for _, message in cases:
        await layer.send(manager.channel, message)
    # Every message was read and dropped while the room went on ticking.
    ticks: list[int] = []
    for _ in range(200):
        frame = await client.until(lambda f: f["t"] == "snap")
        ticks.append(frame["tick"])
        if all(dropped(r) >= n for r, n in expected.items()) and len(ticks) >= 5:
            break
    assert {r: dropped(r) for r in expected} == expected
    assert ticks == sorted(set(ticks)) and len(ticks) >= 5, ticks
    assert "trust-1" in manager.engines
    assert client.player(user_id)[:2] == position, "no malformed input moved the player"
    # A well-formed message on the same path still works: a relayed frame reaches the socket.
    from engine import protocol

    notice = protocol.encode({"t": "notice", "text": "still here"})
    await layer.send(manager.channel, {"type": "room.frame", "room": "trust-1", "data": notice})
    frame = await client.until(lambda f: f["t"] == "notice")
    assert frame["text"] == "still here"
    await client.disconnect()


async def test_the_drop_warning_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    from gameserver.manager import get_manager

    client, _ = await joined("trust-2")
    manager = get_manager()
    assert manager.channel is not None
    before = dropped("unknown_type")
    layer = push.channel_layer()
    for _ in range(50):
        await layer.send(manager.channel, {"type": "room.nope", "room": "trust-2"})
    for _ in range(200):
        await client.until(lambda f: f["t"] == "snap")
        if dropped("unknown_type") >= before + 50:
            break
    assert dropped("unknown_type") == before + 50
    warnings = [r for r in caplog.records
                if r.name == "gameserver.manager" and "dropped" in r.getMessage()]
    assert 1 <= len(warnings) <= 2, [r.getMessage() for r in warnings]
    await client.disconnect()


# Arbitrary messages ------------------------------------------------------------------

_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=80) | st.binary(max_size=80)
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8,
)
_TYPES = sorted(
    model.model_fields["type"].default
    for model in (*interprocess.ToOwner.__args__, *interprocess.ToGroup.__args__)
)
_FIELDS = ["room", "user_id", "name", "origin", "row", "tick",
           "delta", "full", "events", "token", "data", "code", "notice", "owner"]


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A known `type` for the live room, with any subset of the known fields set to anything."""
    message: dict[str, Any] = {
        "type": draw(st.sampled_from(_TYPES)),
        "room": draw(st.sampled_from(["trust-h", "elsewhere", "", "a/b"])),
    }
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=8, unique=True)):
        message[name] = draw(_VALUES)
    return message


@pytest.fixture
async def live_room() -> Any:
    client, _ = await joined("trust-h")
    yield client
    await client.disconnect()


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(message=near_valid() | st.dictionaries(st.text(max_size=10), _VALUES, max_size=8)
       | _VALUES)
async def test_arbitrary_messages_never_raise_out_of_the_receive_path(
    live_room: GameClient, message: Any
) -> None:
    from gameserver.manager import get_manager

    manager = get_manager()
    await manager.receive(message)
    engine = manager.engines.get("trust-h")
    assert engine is not None and engine.state.value == "running"
