"""Messages between processes: malformed ones on a manager's channel are counted and dropped.

Through the real in-process channel layer and the real ASGI application:
whatever lands on the room manager's channel, the room keeps ticking and its
player keeps getting snapshots. (The same over Redis, against live daphne
processes: tests/e2e/test_cluster_trust.py.)
"""

from __future__ import annotations

import asyncio
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
    # Inputs travel batched, as their game's rows (InputBase.to_row): seq, mx, my, aim,
    # fire, tick; one room's share of a batch pairs users[i] with rows[i].
    row = [1000, 1.0, 0.0, 0.0, False, None]
    share = {"room": room, "users": [user_id], "rows": [row]}
    good_input = {"type": "room.inputs", "origin": "hub.x", "rooms": [share]}

    def rows(*bad: Any) -> dict[str, Any]:
        return {**good_input, "rooms": [{**share, "users": [user_id] * len(bad),
                                         "rows": list(bad)}]}

    return [
        ("unknown_type", {"type": "room.nuke", "room": room}),
        ("unknown_type", {"room": room, "user_id": user_id}),
        ("unknown_type", {"type": 7, "room": room}),
        ("unknown_type", {"type": "room.input", "room": room, "user_id": user_id,
                          "row": row}),  # the unbatched input of an older version
        ("invalid", {**good_input, "rooms": [{**share, "users": [str(user_id)]}]}),
        ("invalid", {**good_input, "rooms": [{**share, "users": [user_id, user_id]}]}),
        ("invalid", {**good_input, "rooms": []}),
        ("invalid", {**good_input, "rooms": [{k: v for k, v in share.items() if k != "rows"}]}),
        ("invalid", {**good_input, "rooms": [{**share, "room": "../../etc"}]}),
        ("invalid", {**good_input, "rooms": [share, {**share, "token": -1}]}),
        ("invalid", rows([2**60, 1.0, 0.0, 0.0, False, None])),  # huge value
        ("invalid", rows([1000, math.nan, 0.0, 0.0, False, None])),
        ("invalid", rows([1000, [1.0], 0.0, 0.0, False, None])),  # nested
        ("invalid", rows([0] * 33)),  # too many fields
        ("invalid", rows([])),
        ("invalid", rows(["x" * 300])),  # too long a string
        ("invalid", {**good_input, "admin": True}),  # extra field
        ("invalid", {**good_input, "rooms": [{**share, "admin": True}]}),
        # Valid messages, but not valid inputs of the room's game (the arena):
        # the owner validates each row with the game's model and drops it.
        ("invalid", rows([1000, 50.0, 0.0, 0.0, False, None])),  # range
        ("invalid", rows([1000, 1.0, 0.0, 0.0, 1, None])),  # int for bool
        ("invalid", rows([1000, 1])),  # another game's row (paddle's)
        ("invalid", {"type": "room.join", "room": room, "user_id": 99, "name": "x" * 5000,
                     "origin": "hub.x"}),
        ("invalid", {"type": "room.snapshot", "room": room, "tick": 1,
                     "delta": b"\0" * (interprocess.MAX_SNAPSHOT_BYTES + 1)}),
        ("invalid", {"type": "room.snapshots", "origin": "hub.x", "snapshots": []}),
        ("invalid", {"type": "room.snapshots", "origin": "hub.x",
                     "snapshots": [{"room": room, "tick": 1, "delta": b"",
                                    "type": "room.snapshot"}]}),  # extra field per entry
        ("invalid", {"type": "room.snapshots", "origin": "hub.x",
                     "snapshots": [{"room": room, "tick": -1, "delta": b""}]}),
        ("invalid", {"type": "room.snapshots", "origin": "hub.x",
                     "snapshots": [{"room": room, "tick": 1, "delta": b""}]
                     * (interprocess.MAX_BATCH_ROOMS + 1)}),
        ("invalid", {"type": "room.snapshots", "snapshots": [
            {"room": room, "tick": 1, "delta": b""}]}),  # no origin
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
    model.model_fields["type"].default for model in interprocess.Message.__args__
)
_FIELDS = ["room", "user_id", "name", "origin", "rooms", "users", "rows", "tick",
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


# Batched inputs ----------------------------------------------------------------------


def acks_of(client: GameClient, user_id: int) -> int:
    assert client.state is not None
    return int(client.state["acks"][user_id])


async def test_a_batch_applies_its_rows_in_order_acks_them_and_drops_only_bad_rows() -> None:
    from gameserver.manager import get_manager

    client, user_id = await joined("batch-1")
    manager = get_manager()
    assert manager.channel is not None
    start = client.player(user_id)[0]
    before = dropped("invalid")
    rows = [[seq, 1.0, 0.0, 0.0, False, None] for seq in range(1, 9)]
    rows.insert(3, [4, 50.0, 0.0, 0.0, False, None])  # out of the game's range: dropped alone
    batch = {"type": "room.inputs", "origin": "hub.elsewhere", "rooms": [
        {"room": "elsewhere-1", "users": [user_id], "rows": [rows[0]]},  # not ours: skipped
        {"room": "batch-1", "users": [user_id] * len(rows), "rows": rows},
    ]}
    await push.channel_layer().send(manager.channel, batch)
    await client.until(lambda f: f["t"] == "snap" and acks_of(client, user_id) == 8)
    assert dropped("invalid") == before + 1
    await client.until(lambda f: f["t"] == "snap" and client.player(user_id)[0] > start)
    # A later batch with older seqs changes nothing: each player's inputs apply in order.
    stale = {**batch, "rooms": [{"room": "batch-1", "users": [user_id],
                                 "rows": [[3, -1.0, 0.0, 0.0, False, None]]}]}
    await push.channel_layer().send(manager.channel, stale)
    for _ in range(5):
        await client.until(lambda f: f["t"] == "snap")
        assert acks_of(client, user_id) == 8
    await client.disconnect()


async def test_the_outbox_sends_one_message_per_owner_in_order_before_other_messages() -> None:
    """A process's inputs for rooms owned elsewhere: one `room.inputs` for all of them,
    each player's in order, and always ahead of a later message to the same owner."""
    from gameserver.manager import get_manager
    from lobby import games

    manager = get_manager()
    await manager.start()
    layer = push.channel_layer()
    owner = await layer.new_channel("hub.")
    model = games.get(games.default_id()).input_model
    rooms = ["far-1", "far-2"]
    for room in rooms:
        manager.owners[room] = owner
    try:
        sent = []
        for seq in range(1, 31):
            room, user_id = rooms[seq % 2], 1 + seq % 3
            frame = model(seq=seq, mx=0.5, my=0.0, aim=0.0, fire=False)
            assert manager.submit(room, user_id, frame)
            sent.append((room, user_id, frame.to_row()))
        await manager.kick("far-1", 2)  # an owner message: the waiting inputs go first
        first = interprocess.parse(await layer.receive(owner))
        assert isinstance(first, interprocess.Inputs)
        assert first.origin == manager.channel
        got = [(share.room, user_id, row)
               for share in first.rooms for user_id, row in zip(share.users, share.rows,
                                                                 strict=True)]
        for room in rooms:
            assert [g for g in got if g[0] == room] == [s for s in sent if s[0] == room]
        assert [share.room for share in first.rooms] == ["far-2", "far-1"]
        second = interprocess.parse(await layer.receive(owner))
        assert isinstance(second, interprocess.Expel) and second.user_id == 2
        # Alone, inputs leave with the next flush, still as one message.
        for seq in range(31, 41):
            manager.submit("far-2", 1, model(seq=seq, mx=0.5, my=0.0, aim=0.0, fire=False))
        alone = interprocess.parse(await asyncio.wait_for(layer.receive(owner), 5))
        assert isinstance(alone, interprocess.Inputs)
        assert [row[0] for row in alone.rooms[0].rows] == list(range(31, 41))
    finally:
        for room in rooms:
            manager.owners.pop(room, None)
