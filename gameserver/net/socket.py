"""One accepted WebSocket as a fan-out writes to it, with a bound on what may queue.

Both hubs (a game room's, the lobby's) write each frame straight to the
socket: through the daphne adapter's writer when the socket runs on the fast
path (gameserver/net/daphne.py), else through its ASGI `send`. Under daphne
a write never blocks: Twisted buffers what the kernel will not take, so a
client that stops reading would grow that buffer without bound. Where the
adapter can tell how much is queued, `write` drops such a client with close
4009 once more than `max_pending_bytes` wait; the others never wait for it.
On the fallback path (plain ASGI) the size is unknown and nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gameserver.net.closecodes import CloseCode
from gameserver.net.daphne import FastSocket, Send, websocket_frame

logger = logging.getLogger(__name__)


class Socket:
    """A socket's bounded writes and its one close."""

    __slots__ = (
        "_close_send",
        "_frame_writer",
        "_on_drop",
        "_pending",
        "_send",
        "closed",
        "fast",
        "label",
        "max_pending_bytes",
    )

    def __init__(
        self,
        send: Send,
        max_pending_bytes: int,
        fast: FastSocket | None = None,
        on_drop: Callable[[Any, int], None] | None = None,
        label: str = "",
    ) -> None:
        # With the daphne adapter (`fast`), frames skip Channels' wrappers and,
        # when they can, daphne's; without it, everything is plain ASGI.
        self.fast = fast
        """The daphne adapter's socket (None on the plain ASGI path)."""
        self._send = fast.send if fast is not None else send
        self._close_send = send
        self._pending = fast.pending_bytes if fast is not None else None
        self._frame_writer = fast.write if fast is not None else None
        self._on_drop = on_drop
        self.max_pending_bytes = max_pending_bytes
        self.label = label
        """Who this socket is, for logs (e.g. `user=7`)."""
        self.closed = False

    async def write(self, data: bytes | str, frame: bytes | None = None) -> bool:
        """Send one message (bytes: binary, str: text); False if closed or just dropped as slow.

        `frame` is `data` already framed (`websocket_frame`), built once for all
        sockets; it is written straight to the transport when the server allows.
        """
        if self.closed:
            return False
        if await self._dropped_as_slow():
            return False
        if frame is not None and self._frame_writer is not None and self._frame_writer(frame):
            return True
        return await self._send_message(data)

    async def _dropped_as_slow(self) -> bool:
        """True after closing with 4009: more than `max_pending_bytes` wait unread."""
        if self._pending is None or (backlog := self._pending()) <= self.max_pending_bytes:
            return False
        logger.info("dropping slow client %s backlog=%s", self.label, backlog)
        await self.close(CloseCode.SLOW_CLIENT)
        return True

    async def _send_message(self, data: bytes | str) -> bool:
        message: dict[str, Any] = {"type": "websocket.send"}
        message["bytes" if isinstance(data, bytes) else "text"] = data
        try:
            await self._send(message)
        except Exception:  # the peer went away between our check and the write
            self.closed = True
            return False
        return True

    async def write_many(self, messages: list[bytes] | list[str], frames: bytes) -> bool:
        """Send messages in order, as `write` does one; `frames`: all of them framed, in a row.

        Where the server allows it, one write to the transport (one system
        call, not one per message), else one ASGI send each. False if closed
        or just dropped as slow.
        """
        if len(messages) == 1:
            return await self.write(messages[0], frames)
        if self.closed or await self._dropped_as_slow():
            return False
        if self._frame_writer is not None and self._frame_writer(frames):
            return True
        for message in messages:
            if not await self._send_message(message):
                return False
        return True

    def write_ready(self, frame: bytes) -> bool:
        """Write a prebuilt frame at once if the server allows it and the client keeps up.

        The hubs' per-socket fast path: no coroutine per socket per snapshot.
        False means nothing was written (closed, no fast writer, or over its
        backlog): then `write` / `write_many`, which also drop a slow client.
        """
        if self.closed or self._frame_writer is None:
            return False
        if self._pending is not None and self._pending() > self.max_pending_bytes:
            return False
        return self._frame_writer(frame)

    def write_now(self, data: bytes) -> bool:
        """Write one binary frame synchronously if the server allows it (False: use `write`)."""
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
            logger.debug("close after disconnect %s", self.label)
