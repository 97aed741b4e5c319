"""The room hub: one per room per process, the room group's only member here.

The room's engine encodes each snapshot once; its process hands it to its
own hub directly and sends it to every other process with sockets in the
room (batched with its other rooms' snapshots of the tick, gameserver/relay.py),
where that process's one hub of the room writes the same bytes to every local
socket. So the channel layer carries one message per process per snapshot
tick, not one per player (docs/benchmarks.md). Room-wide messages (chat,
kicks, closes) reach the hub through the room's group, of which it is this
process's only member.

A socket that joins waits in `joining` until a snapshot message carries a
full snapshot (the hub asks the engine for one), so every client's first
`snap` is full and every later one a delta against the one before.
"""

from __future__ import annotations

from collections.abc import Callable

from gameserver import metrics
from gameserver.connection import Connection
from gameserver.interprocess import RoomSnapshot
from gameserver.net.daphne import websocket_frame


class RoomHub:
    """Local sockets of one room and the fan-out of its frames."""

    def __init__(self, room: str, request_full: Callable[[], None], game: str = "") -> None:
        self.room = room
        self.game = game
        """The id of the room's game (the lobby's row), for a take-over without a checkpoint."""
        self._request_full = request_full
        self.active: list[Connection] = []
        self.joining: list[Connection] = []

    def __len__(self) -> int:
        return len(self.active) + len(self.joining)

    def connections(self) -> list[Connection]:
        return [*self.active, *self.joining]

    def add(self, conn: Connection) -> None:
        """A new local socket; it gets a full snapshot at the next snapshot tick."""
        self.joining.append(conn)
        self._request_full()

    def rejoin(self) -> None:
        """The room's owner changed: every socket waits for the new owner's full snapshot."""
        self.joining = [*self.active, *self.joining]
        self.active = []
        self._request_full()

    def remove(self, conn: Connection) -> None:
        if conn in self.active:
            self.active.remove(conn)
        elif conn in self.joining:
            self.joining.remove(conn)

    def player_connection(self, user_id: int) -> Connection | None:
        for conn in self.connections():
            if conn.user_id == user_id and not conn.spectator:
                return conn
        return None

    async def on_snapshot(self, message: RoomSnapshot) -> None:
        """Deliver one snapshot message: `delta` to the active, `full` to the joining."""
        events, delta, full = message.events, message.delta, message.full
        # Framed once here, then the same bytes go to every socket.
        delta_frame = websocket_frame(delta)
        sent = sent_bytes = 0
        if events is None:
            for conn in tuple(self.active):
                if conn.write_ready(delta_frame) or await self._write(conn, delta, delta_frame):
                    sent += 1
            sent_bytes = sent * len(delta)
        else:
            # The tick's events and its delta: one write per socket, not two.
            frames = websocket_frame(events) + delta_frame
            for conn in tuple(self.active):
                if conn.write_ready(frames) or await conn.write_many([events, delta], frames):
                    sent += 1
                else:
                    self.remove(conn)
            sent_bytes = sent * (len(events) + len(delta))
        if self.joining:
            if full is None:
                self._request_full()
            else:
                newcomers, self.joining = self.joining, []
                for conn in newcomers:
                    if await self._write(conn, full):
                        self.active.append(conn)
                        sent += 1
                        sent_bytes += len(full)
        # Tallied, not counted per socket: a counter's update takes a lock.
        metrics.SNAPSHOTS_SENT_TALLY.count += sent
        metrics.BYTES_SENT_TALLY.count += sent_bytes
        # Every process with sockets gets snapshots several times a second:
        # the tallies of its sockets' inputs reach the counters here.
        metrics.flush()

    async def on_frame(self, data: bytes) -> None:
        """Deliver a non-snapshot frame (chat, notice) to every local socket."""
        sent = 0
        frame = websocket_frame(data)
        for conn in self.connections():
            if conn.write_ready(frame) or await self._write(conn, data, frame):
                sent += 1
        metrics.BYTES_SENT_TALLY.count += sent * len(data)

    async def close_all(self, code: int, notice: bytes | None = None) -> None:
        for conn in self.connections():
            if notice is not None:
                await conn.write(notice)
            await conn.close(code)
        self.active.clear()
        self.joining.clear()

    async def _write(self, conn: Connection, data: bytes, frame: bytes | None = None) -> bool:
        if await conn.write(data, frame):
            return True
        self.remove(conn)
        return False
