"""One game socket as the room hub sees it: who it is, over a bounded socket.

The hub writes each tick's encoded snapshot straight to the socket
(gameserver/net/socket.py: no channel-layer message or consumer dispatch per
player per tick, docs/benchmarks.md); a client that stops reading is closed
4009 rather than buffered without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gameserver.net.daphne import FastSocket, Send
from gameserver.net.socket import Socket


class Connection(Socket):
    """A connected player or spectator of one room in this process."""

    __slots__ = ("entered", "name", "spectator", "user_id")

    def __init__(
        self,
        send: Send,
        user_id: int,
        name: str,
        spectator: bool,
        max_pending_bytes: int,
        on_drop: Callable[[Any, int], None] | None = None,
        fast: FastSocket | None = None,
    ) -> None:
        super().__init__(send, max_pending_bytes, fast, on_drop, label=f"user={user_id}")
        self.user_id = user_id
        self.name = name
        self.spectator = spectator
        self.entered = False
        """Counted by the room manager as one of its open sockets."""
