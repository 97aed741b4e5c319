"""What the ASGI server under a socket can tell us: the daphne adapter.

Both socket fan-outs (game room hubs, the lobby hub) write each frame straight
to a socket's ASGI `send`, skipping Channels' wrappers, and need to know how
much is queued for a client that stopped reading. Under daphne that is
knowable; under other servers these return None and callers fall back.
"""

from __future__ import annotations

import array
import fcntl
import functools
import termios
import time
from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]

KERNEL_CHECK_EVERY = 8
"""Read the kernel's send queue (a syscall) on every 8th probe only."""


def raw_send(send: Send) -> Send:
    """The ASGI server's own `send`, below Channels' session wrapper and ours.

    Those wrappers only act on HTTP responses and closes; skipping them on the
    per-frame path saves a coroutine frame and attribute reads per write.
    """
    while True:
        owner = getattr(send, "__self__", None)
        inner = getattr(owner, "real_send", None)
        if inner is None:
            return send
        send = inner


def daphne_protocol(send: Send) -> Any:
    """The daphne WebSocket protocol behind an ASGI `send`, or None.

    Daphne passes `functools.partial(server.handle_reply, protocol)`.
    """
    send = raw_send(send)
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]
        if hasattr(protocol, "sendCloseFrame"):
            return protocol
    return None


def kernel_send_queue(fd: int) -> int:
    """Bytes in a TCP socket's kernel send queue (unsent and unacknowledged)."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.TIOCOUTQ, buf)
    return int(buf[0])


def pending_bytes_probe(send: Send) -> Callable[[], int] | None:
    """A function giving the bytes queued for this socket and not yet read, if knowable.

    The daphne protocol's Twisted transport keeps unwritten data in
    `dataBuffer` (from `offset`) and `_tempDataBuffer` (`_tempDataLen` bytes).
    Twisted's buffer only grows once the kernel's send queue is full, which on
    loopback can hold megabytes, so the kernel's queue is counted too.
    """
    protocol = daphne_protocol(send)
    transport = getattr(protocol, "transport", None)
    if transport is None or not all(
        hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen")
    ):
        return None
    sock = getattr(transport, "socket", None)
    fd = sock.fileno() if sock is not None else -1
    calls = 0
    kernel = 0

    def pending() -> int:
        nonlocal calls, kernel
        calls += 1
        if fd >= 0 and calls % KERNEL_CHECK_EVERY == 0:
            try:
                kernel = kernel_send_queue(fd)
            except OSError:
                kernel = 0
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen + kernel

    return pending


def websocket_frame(payload: bytes, text: bool = False) -> bytes:
    """A whole, unmasked, unfragmented WebSocket frame (RFC 6455 §5.2) as a server sends it.

    Server frames are never masked, so the bytes are the same for every
    client: a hub builds them once per message.
    """
    first = 0x81 if text else 0x82  # FIN + text/binary opcode
    size = len(payload)
    if size < 126:
        header = bytes((first, size))
    elif size < 1 << 16:
        header = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + payload


def frame_writer(send: Send) -> Callable[[bytes], bool] | None:
    """A function writing a prebuilt `websocket_frame` straight to the socket, if possible.

    Under daphne every ASGI send goes through daphne's and autobahn's
    per-frame Python (state checks, framing, statistics): most of the cost of
    a broadcast. When the connection negotiated no compression and no
    fragmentation, a frame built once can go to the Twisted transport as it
    is. The function returns False (write nothing) unless the connection is
    open and between frames; the caller then uses the ASGI `send`.
    """
    protocol = daphne_protocol(send)
    if protocol is None or getattr(protocol, "_perMessageCompress", None) is not None:
        return None
    if getattr(protocol, "autoFragmentSize", 0) or not hasattr(protocol, "send_state"):
        return None
    transport = protocol.transport
    open_state, ground = protocol.STATE_OPEN, protocol.SEND_STATE_GROUND

    def write(frame: bytes) -> bool:
        if protocol.state != open_state or protocol.send_state != ground:
            return False
        transport.write(frame)
        return True

    return write


def take_messages(send: Send, handler: Callable[[bytes | None, str | None], None]) -> bool:
    """Have daphne hand this socket's messages to `handler` as they are parsed.

    Daphne puts every received message on the connection's ASGI queue, and
    the application task wakes up for each: at 20 inputs per player per
    second, a task switch per input is most of its cost. With this, messages
    go straight from autobahn's parser to `handler(bytes, text)`, which must
    not block (it may start tasks). The ASGI path still carries the
    disconnect. Returns False (nothing changed) when not under daphne.
    """
    protocol = daphne_protocol(send)
    if protocol is None or not hasattr(protocol, "application_queue"):
        return False

    def on_message(payload: bytes, is_binary: bool) -> None:
        if protocol.muted:
            return
        protocol.last_ping = time.time()  # what daphne's own handler records
        if is_binary:
            handler(payload, None)
        else:
            handler(None, payload.decode("utf-8", "replace"))

    protocol.onMessage = on_message
    return True
