"""One game socket as the room hub sees it: who it is, and a bounded way to write to it.

The hub writes each tick's encoded snapshot straight to the socket's ASGI
`send` (no channel-layer message or consumer dispatch per player per tick,
docs/benchmarks.md). Under daphne that call never blocks: Twisted buffers
whatever the kernel will not take. So a client that stops reading would grow
that buffer without bound; on the daphne adapter's fast path
(gameserver/net/daphne.py) `Connection.write` reads its size before each
write and drops the client (close 4009) once it holds more than
`max_pending_bytes`. The room and the other players never wait for it. On the
fallback path (plain ASGI) the size is unknown and nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gameserver.net.closecodes import CloseCode
from gameserver.net.daphne import FastSocket, Send, websocket_frame

logger = logging.getLogger(__name__)



class Connection:
    """A connected player or spectator of one room in this process."""

    __slots__ = (
        "_close_send",
        "_frame_writer",
        "_on_drop",
        "_pending",
        "_send",
        "closed",
        "entered",
        "max_pending_bytes",
        "name",
        "spectator",
        "user_id",
    )

    def __init__(
        self,
        send: Send,
        user_id: int,
        name: str,
        spectator: bool,
        max_pending_bytes: int,
        on_drop: Callable[[Connection, int], None] | None = None,
        fast: FastSocket | None = None,
    ) -> None:
        # With the daphne adapter (`fast`), frames skip Channels' wrappers and,
        # when they can, daphne's; without it, everything is plain ASGI.
        self._send = fast.send if fast is not None else send
        self._close_send = send
        self._pending = fast.pending_bytes if fast is not None else None
        self._frame_writer = fast.write if fast is not None else None
        self._on_drop = on_drop
        self.user_id = user_id
        self.name = name
        self.spectator = spectator
        self.max_pending_bytes = max_pending_bytes
        self.closed = False
        self.entered = False
        """Counted by the room manager as one of its open sockets."""

    def backlog(self) -> int | None:
        """Bytes queued for this socket and not yet taken by the kernel (None: unknown)."""
        return self._pending() if self._pending is not None else None

    async def write(self, data: bytes, frame: bytes | None = None) -> bool:
        """Send one binary frame; False if the socket is closed or was just dropped as slow.

        `frame` is `data` already framed (`websocket_frame`), built once for all
        sockets; it is written straight to the transport when the server allows.
        """
        if self.closed:
            return False
        if self._pending is not None and self._pending() > self.max_pending_bytes:
            logger.info("dropping slow client user=%s backlog=%s", self.user_id, self._pending(),
                        extra={"user": self.user_id})
            await self.close(CloseCode.SLOW_CLIENT)
            return False
        if frame is not None and self._frame_writer is not None and self._frame_writer(frame):
            return True
        try:
            await self._send({"type": "websocket.send", "bytes": data})
        except Exception:  # the peer went away between our check and the write
            self.closed = True
            return False
        return True

    def write_now(self, data: bytes) -> bool:
        """Write one frame synchronously if the server allows it (False: use `write`)."""
        if self.closed or self._frame_writer is None:
            return False
        return self._frame_writer(websocket_frame(data))

    async def close(self, code: int) -> None:
        """Close the socket with `code` (once)."""
        if self.closed:
            return
        self.closed = True
        if self._on_drop is not None:
            self._on_drop(self, code)
        try:
            # Through the full stack: it knows how to send any close code.
            await self._close_send({"type": "websocket.close", "code": code})
        except Exception:
            logger.debug("close after disconnect user=%s", self.user_id)
