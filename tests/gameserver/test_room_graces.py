"""A disconnected player's seat is kept for the grace period, then they leave the match.

The tick looks at the seats only once the earliest grace may have ended
(gameserver/room.py `_expire_graces`); these tests drive the room's clock by
hand so that every case of that bookkeeping is hit at an exact time.
"""

from __future__ import annotations

from typing import Any

import pytest

from gameserver import room as room_module
from gameserver.room import RoomEngine, RoomSettings, RoomState
from lobby import games
from tests.clock import ManualClock

GRACE = 10.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    c = ManualClock(500.0)
    monkeypatch.setattr(room_module, "time", c)
    return c


async def running_room(left: list[int]) -> RoomEngine:
    async def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "left":
            left.append(data["user_id"])

    async def nothing(*_: Any) -> None:
        return None

    game = games.get(games.default_id())
    settings = RoomSettings(game=game, config=games.room_config(game.info.id),
                            idle_seconds=60, grace_seconds=GRACE)
    room = RoomEngine("graces", settings, publish=nothing, on_event=on_event,
                      on_closed=nothing)
    room.state = RoomState.RUNNING  # ticks are driven by hand here, not by its task
    return room


async def at(room: RoomEngine, clock: ManualClock, when: float) -> set[int]:
    """Move the clock to `when`, run the tick's expiry; the players still in the match."""
    clock.now = when
    room._expire_graces()
    await room._background.finish()
    return set(room.match.player_ids())


async def test_each_grace_ends_on_time_whatever_the_order(clock: ManualClock) -> None:
    left: list[int] = []
    room = await running_room(left)
    for uid in (1, 2, 3, 4):
        room.join(uid, f"p{uid}")
    room.leave(1)                       # grace until 510
    clock.now = 505.0
    room.leave(2)                       # until 515
    clock.now = 506.0
    room.leave(3)                       # until 516
    clock.now = 508.0
    room.join(1, "p1")                  # back in time: keeps the seat

    assert await at(room, clock, 509.9) == {1, 2, 3, 4}
    assert await at(room, clock, 510.0) == {1, 2, 3, 4}  # 1 came back
    assert await at(room, clock, 514.9) == {1, 2, 3, 4}
    assert await at(room, clock, 515.0) == {1, 3, 4}
    assert await at(room, clock, 515.5) == {1, 3, 4}
    assert await at(room, clock, 516.0) == {1, 4}
    assert left == [2, 3]
    assert set(room.seats) == {1, 4}


async def test_a_later_leave_with_an_earlier_end_and_a_kick(clock: ManualClock) -> None:
    left: list[int] = []
    room = await running_room(left)
    for uid in (1, 2):
        room.join(uid, f"p{uid}")
    room.leave(1)                       # until 510
    assert await at(room, clock, 501.0) == {1, 2}
    room.expel(2)                       # now: before 1's grace ends
    assert await at(room, clock, 501.0) == {1}
    assert await at(room, clock, 509.0) == {1}
    assert await at(room, clock, 510.0) == set()
    assert left == [2, 1]


async def test_a_seat_left_again_after_coming_back_gets_a_new_grace(clock: ManualClock) -> None:
    left: list[int] = []
    room = await running_room(left)
    room.join(7, "p7")
    room.leave(7)                       # until 510
    clock.now = 503.0
    room.join(7, "p7")
    clock.now = 504.0
    room.leave(7)                       # until 514
    assert await at(room, clock, 510.0) == {7}
    assert await at(room, clock, 513.9) == {7}
    assert await at(room, clock, 514.0) == set()
    assert left == [7]
