"""The room engines' hooks into the lobby, run in background tasks, never in the tick.

A phase change updates the room list; a player who left gives back the seat;
a finished match is stored (its ratings and notifications are a task for the
workers); a closed room is closed in the lobby too.
"""
from __future__ import annotations

import logging
from typing import Any

from engine import protocol
from gameserver import interprocess as msg
from gameserver.managerstate import ManagerState
from gameserver.net.closecodes import CloseCode
from gameserver.ownership import RedisError
from gameserver.room import RoomEngine

logger = logging.getLogger("gameserver.manager")


class LobbyHooksMixin(ManagerState):
    """What the lobby hears of this process's engines."""

    async def _reset_lobby(self) -> None:
        """One process and no engine running: the room list must not show old players."""
        from lobby import rooms as lobby_rooms

        try:
            await lobby_rooms.areset_live_state()
        except Exception:
            logger.exception("could not reset the rooms' live state")


    # Engine hooks (background tasks, never in the tick) -------------------------

    async def _engine_event(self, room: str, kind: str, data: dict[str, Any]) -> None:
        from lobby import rooms as lobby_rooms

        if kind == "phase":
            self.observe_rooms()
            await lobby_rooms.aroom_changed(room, phase=data["phase"])
        elif kind == "left":
            await lobby_rooms.arelease_seat(room, data["user_id"])
        elif kind == "match_end":
            from lobby import history

            await history.arecord_match(room, data["duration_s"], data["results"], data["game"],
                                        recording=data.get("recording"))

    async def _engine_closed(self, engine: RoomEngine, reason: str) -> None:
        """A room's engine stopped: close the room everywhere, unless we may not own it.

        An engine whose lease lapsed (another process may run the room now)
        closes only here: the room's sockets, checkpoint, lease and row are
        the current owner's, or the dead-room sweep's if there is none.
        """
        if self.engines.get(engine.name) is engine:
            del self.engines[engine.name]
        self.observe_rooms()
        if self.distributed and engine.lease_lapsed():
            logger.warning("room %s: stopped (%s) without a valid lease; not closing it "
                           "for other processes", engine.name, reason,
                           extra={"room": engine.name})
            return
        code = CloseCode.ROOM_GONE if reason != "failed" else 1011
        notice = protocol.error(
            "room_closed" if reason != "failed" else "room_failed",
            f"room {engine.name} was {reason}",
        )
        await self.broadcast(engine.name, msg.Close(room=engine.name, code=code, notice=notice))
        if self.distributed and self.channel is not None:
            try:
                await self.ownership.forget(engine.name)
                await self.ownership.release(engine.name, self.channel, engine.lease_token)
            except RedisError:
                logger.warning("room %s: could not release its lease", engine.name)
        await self._close_in_lobby(engine.name)

    async def _close_in_lobby(self, room: str) -> None:
        """Mark the room closed in the room list and free its seats."""
        from lobby import rooms as lobby_rooms

        try:
            await lobby_rooms.aclose_room(room)
        except Exception:
            logger.exception("room %s: could not mark it closed in the lobby", room)
