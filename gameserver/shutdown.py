"""Graceful shutdown: on SIGTERM hand every owned room over, then close sockets with 1012."""
from __future__ import annotations

import asyncio
import logging
import signal

from engine import protocol
from gameserver import interprocess as msg
from gameserver.managerstate import ManagerState
from gameserver.net.closecodes import CloseCode
from gameserver.ownership import RedisError

logger = logging.getLogger("gameserver.manager")


class ShutdownMixin(ManagerState):
    """Draining a room manager."""

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
