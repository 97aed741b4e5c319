"""What the parts of the room manager share: its state, declared once for the type checker.

`RoomManager` (gameserver/manager.py) is composed of mixins, one module per
job (relay, leases, shutdown, lobby hooks). Each mixin subclasses
`ManagerState`, which declares the attributes the manager sets in
`__init__` and the methods one part calls on another; at run time it is an
empty class.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gameserver import interprocess as msg
    from gameserver.conf import ServerConfig
    from gameserver.connection import Connection
    from gameserver.hub import RoomHub
    from gameserver.ownership import Ownership
    from gameserver.room import RoomEngine
    from lobby.push import ChannelLayer


class ManagerState:
    """The room manager's attributes and cross-part methods (see module docstring)."""

    if TYPE_CHECKING:
        config: ServerConfig
        layer: ChannelLayer
        ownership: Ownership
        engines: dict[str, RoomEngine]
        hubs: dict[str, RoomHub]
        owners: dict[str, str]
        channel: str | None
        draining: bool
        _fences: dict[str, int]
        _drops: Counter[str]
        _drop_logged: dict[str, float]
        _via: dict[str, dict[str, Counter[int]]]
        _route_lock: asyncio.Lock
        _ownerless: dict[str, int]
        _last_checkpoint: float
        _orphans_seen: dict[str, float]
        _silent: dict[str, float]
        _next_sweep: float
        _sockets: int
        _all_closed: asyncio.Event
        _send_lock: asyncio.Lock
        _outbox: dict[str, tuple[list[int], list[list[Any]]]]
        _outbox_inputs: int
        _flush_timer: asyncio.TimerHandle | None
        _flushing: bool
        _snapshot_outbox: dict[str, list[tuple[RoomEngine, msg.Snapshot]]]
        _snapshot_flush: asyncio.Handle | None
        _snapshot_lock: asyncio.Lock

        @property
        def distributed(self) -> bool: ...

        def _announcement(self, room: str, conn: Connection) -> msg.ToOwner: ...

        async def _close_in_lobby(self, room: str) -> None: ...

        def _create(
            self, room: str, checkpoint: bytes | None, token: int = 1, sent: float | None = None
        ) -> RoomEngine: ...

        async def _group(self, action: str, room: str) -> None: ...

        async def _group_send(self, room: str, message: dict[str, Any]) -> None: ...

        async def _owner_changed(self, room: str, owner: str) -> None: ...

        async def _reset_lobby(self) -> None: ...

        def _spawn(self, work: Any) -> None: ...

        async def _take_over(self, room: str) -> None: ...

        async def _to_owner(self, room: str, message: msg.ToOwner) -> None: ...

        async def broadcast(self, room: str, message: msg.ToGroup) -> None: ...

        def observe_rooms(self) -> None: ...
