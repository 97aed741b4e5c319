"""Graceful shutdown: on SIGTERM hand every owned room over, then close sockets with 1012."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from typing import TYPE_CHECKING, Any

from engine import protocol
from gameserver import interprocess as msg
from gameserver.hub import RoomHub
from gameserver.net.closecodes import CloseCode
from gameserver.ownership import Ownership, RedisError
from gameserver.room import RoomEngine

logger = logging.getLogger("gameserver.manager")


class ShutdownMixin:
    """Draining a room manager."""

    # The manager's state and the parts of it other modules provide
    # (gameserver/manager.py composes them into RoomManager).
    if TYPE_CHECKING:
        config: Any
        layer: Any
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

        @property
        def distributed(self) -> bool: ...

        async def _group_send(self, room: str, message: dict[str, Any]) -> None: ...

        async def _reset_lobby(self) -> None: ...

        def _spawn(self, work: Any) -> None: ...

    # Shutdown -------------------------------------------------------------------

    def _install_sigterm(self, loop: asyncio.AbstractEventLoop) -> None:
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return  # no server installed a handler (e.g. under tests): nothing to wrap

        def on_sigterm() -> None:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, previous)

            async def hand_over_then_exit() -> None:
                try:
                    await asyncio.wait_for(self.drain(), timeout=8)
                except Exception:
                    logger.exception("hand-over on SIGTERM failed")
                previous(signal.SIGTERM, None)

            self._spawn(hand_over_then_exit())

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)

    async def drain(self) -> None:
        """Hand every owned room over and close local sockets with 1012."""
        self.draining = True
        for room, engine in list(self.engines.items()):
            await engine.halt()
            self.engines.pop(room, None)
            if self.distributed and self.channel is not None:
                try:
                    if not engine.lease_lapsed():
                        await self.ownership.save_checkpoint(
                            room, engine.lease_token, engine.checkpoint()
                        )
                    await self.ownership.release(room, self.channel, engine.lease_token)
                except RedisError:
                    logger.exception("room %s: hand-over to Redis failed", room)
                await self._group_send(room, {**msg.to_layer(msg.OwnerGone(room=room)),
                                              "origin": self.channel})
        if not self.distributed:
            await self._reset_lobby()
        for hub in list(self.hubs.values()):
            await hub.close_all(
                CloseCode.SERVICE_RESTART, protocol.error("restarting", "server restarting")
            )
        if self._sockets > 0:
            # Let the closing handshakes finish before the server stops its reactor.
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout=3)
            except TimeoutError:
                logger.warning("%s sockets did not finish closing", self._sockets)
        logger.info("drained: rooms handed over, sockets closed with 1012")
