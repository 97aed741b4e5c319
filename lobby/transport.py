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
