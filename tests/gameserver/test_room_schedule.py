"""A room's tick deadlines: on its own start, or on the process-wide grid (on Redis).

Aligned engines of one process tick at the same deadlines, whenever each
started, so their snapshots for another process leave in one message
(gameserver/relay.py; counted live in tests/e2e/test_cluster_batching.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from gameserver.room import RoomEngine, RoomSettings
from lobby import games


def engine(aligned: bool) -> RoomEngine:
    async def nothing(*_: Any) -> None:
        return None

    game = games.get(games.default_id())
    settings = RoomSettings(game=game, config=games.room_config(game.info.id),
                            idle_seconds=60, grace_seconds=10, aligned=aligned)
    return RoomEngine("grid", settings, publish=nothing, on_event=nothing, on_closed=nothing)


def deadlines(room: RoomEngine, now: float, interval: float, count: int) -> list[float]:
    origin, step = room._schedule(now, interval)
    return [origin + (step + k) * interval for k in range(count)]


@pytest.mark.parametrize("interval", [1 / 20, 1 / 60, 1 / 30])
def test_aligned_rooms_started_apart_share_their_deadlines(interval: float) -> None:
    early = deadlines(engine(aligned=True), 1000.0123, interval, 50)
    late = deadlines(engine(aligned=True), 1000.0123 + 7.3 * interval, interval, 40)
    # The later room's deadlines are the earlier one's, bit for bit (the same timers).
    skipped = early.index(late[0])
    assert skipped in (7, 8)
    assert late == early[skipped:skipped + 40]
    # The first is due at once: the grid's last point at or before the start.
    assert early[0] <= 1000.0123 < early[0] + interval


def test_an_unaligned_room_ticks_from_its_own_start() -> None:
    assert deadlines(engine(aligned=False), 1000.0123, 0.05, 3) == [
        1000.0123, 1000.0123 + 0.05, 1000.0123 + 0.1]
