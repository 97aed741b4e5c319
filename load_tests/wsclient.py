"""A lean WebSocket client for bots: RFC 6455 over one `asyncio.Protocol`.

A thousand bots in one process on one core receive ~20,000 frames a second.
A general-purpose client spends a task wake-up, a future and a queue per
received frame; this one parses frames synchronously in `data_received` and
hands each whole message to a callback, and sends by writing one masked
frame to the transport. It speaks what the game server sends: unfragmented
(or simply fragmented) text and binary messages, ping, close; no extensions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class HandshakeError(Exception):
    """The server did not switch protocols; `status` is its HTTP status (0 if none)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    size = len(payload)
    if not size:
        return key
    # XOR with the repeated key as one big integer: fast for game-sized frames.
    repeated = (key * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return key + masked.to_bytes(size, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (FIN set)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + _mask(payload)


class LeanWebSocket(asyncio.Protocol):
    """One client connection; `on_message(data)` gets each message (bytes or str)."""

    def __init__(self, on_message: Callable[[bytes | str], None], max_size: int = 1 << 20) -> None:
        self.on_message = on_message
        self.max_size = max_size
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.close_code: int | None = None
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_op = OP_BINARY
        self._key = base64.b64encode(os.urandom(16))
        self._request = b""
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    # Connection -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self._request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.close_code is None:
            self.close_code = 1006
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeError(0, "connection closed in handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self.handshake.done():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            del self._buffer[: end + 4]
            self._finish_handshake(head)
            if not self.open:
                return
        self._parse()

    def _finish_handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self._key + GUID).digest()).decode()
        if status != 101 or headers.get("sec-websocket-accept") != expected:
            self.handshake.set_exception(HandshakeError(status, f"handshake answered {status}"))
            assert self.transport is not None
            self.transport.close()
            return
        self.open = True
        self.handshake.set_result(None)

    # Frames -------------------------------------------------------------------

    def _parse(self) -> None:
        # Walk the buffer with an offset and cut what was read once at the
        # end: a burst's read holds hundreds of small frames, and deleting each
        # from the front, or slicing it twice (bytearray, then bytes), cost as
        # much as the rest of the client together.
        buf = self._buffer
        end = len(buf)
        pos = 0
        view = memoryview(buf)
        try:
            while end - pos >= 2:
                first, second = buf[pos], buf[pos + 1]
                size = second & 0x7F
                offset = pos + 2
                if size == 126:
                    if end - pos < 4:
                        break
                    size = buf[pos + 2] << 8 | buf[pos + 3]
                    offset = pos + 4
                elif size == 127:
                    if end - pos < 10:
                        break
                    size = int.from_bytes(view[pos + 2 : pos + 10], "big")
                    offset = pos + 10
                if second & 0x80 or size > self.max_size:
                    self._fail(1002 if second & 0x80 else 1009)
                    return
                stop = offset + size
                if stop > end:
                    break  # not all here yet
                pos = stop
                if first & 0x8F == 0x81:  # a whole text message: by far the most common
                    self.on_message(str(view[offset:stop], "utf-8", "replace"))
                else:
                    self._frame(first & 0x80, first & 0x0F, bytes(view[offset:stop]))
                if not self.open:
                    return
        finally:
            view.release()
            if self.open:
                del buf[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if fin:
                self._deliver(opcode, payload)
            else:
                self._fragment_op, self._fragments = opcode, [payload]
        elif opcode == OP_CONT:
            self._fragments.append(payload)
            if fin:
                whole, self._fragments = b"".join(self._fragments), []
                self._deliver(self._fragment_op, whole)
        elif opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._write(OP_CLOSE, payload[:2])
            self.open = False
            assert self.transport is not None
            self.transport.close()

    def _deliver(self, opcode: int, payload: bytes) -> None:
        self.on_message(payload.decode("utf-8", "replace") if opcode == OP_TEXT else payload)

    def _fail(self, code: int) -> None:
        self.close_code = code
        self.open = False
        assert self.transport is not None
        self.transport.close()

    # Sending ------------------------------------------------------------------

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    def send(self, data: bytes | str) -> None:
        """Queue one message (bytes: binary, str: text); dropped if not open."""
        if not self.open:
            return
        if isinstance(data, str):
            self._write(OP_TEXT, data.encode())
        else:
            self._write(OP_BINARY, data)

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    async def close(self, code: int = 1000, timeout: float = 2.0) -> None:
        """Send a close frame and wait (bounded) for the server's close."""
        if self.open:
            self.open = False
            self._write(OP_CLOSE, code.to_bytes(2, "big"))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()


async def connect(
    url: str, on_message: Callable[[bytes | str], None], timeout: float = 15.0,
    user_agent: str = "arena-load-tests",
) -> LeanWebSocket:
    """Open `ws://` or `wss://host:port/path?query` and complete the handshake.

    Raises HandshakeError (the server answered but did not switch), OSError or
    TimeoutError.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or parts.hostname is None:
        raise ValueError(f"only ws:// and wss:// URLs are supported, not {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    loop = asyncio.get_running_loop()
    protocol = LeanWebSocket(on_message)
    protocol._request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {protocol._key.decode()}\r\n"
        f"Sec-WebSocket-Version: 13\r\nUser-Agent: {user_agent}\r\n\r\n"
    ).encode()
    async with asyncio.timeout(timeout):
        await loop.create_connection(
            lambda: protocol, parts.hostname, port,
            ssl=ssl.create_default_context() if secure else None,
        )
        await protocol.handshake
    return protocol
