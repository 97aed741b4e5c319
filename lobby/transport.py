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
    # Twisted's write() always buffers and registers the socket for writing
    # (two epoll_ctl calls and a reactor round per frame). On a plain TCP
    # transport with nothing buffered, the kernel takes the frame at once.
    sock = getattr(transport, "socket", None)
    direct = sock is not None and type(transport).__module__ == "twisted.internet.tcp"

    def write(frame: bytes) -> bool:
        if protocol.state != open_state or protocol.send_state != ground:
            return False
        if (
            direct
            and not transport._tempDataLen
            and transport.offset >= len(transport.dataBuffer)
            and not transport.disconnecting
        ):
            try:
                sent = sock.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:
                return False  # the ASGI path reports the broken connection
            if sent == len(frame):
                return True
            frame = frame[sent:]
        transport.write(frame)
        return True

    return write


def unmask(payload: bytes | bytearray, key: bytes | bytearray) -> bytes:
    """XOR a client frame's payload with its 4-byte masking key (RFC 6455 §5.3)."""
    size = len(payload)
    if not size:
        return b""
    repeated = (bytes(key) * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


def take_messages(
    send: Send, handler: Callable[[bytes | None, str | None], None], max_size: int = 1 << 16
) -> bool:
    """Have daphne hand this socket's messages straight to `handler(bytes, text)`.

    Daphne puts every received message on the connection's ASGI queue, and
    the application task wakes up for each; autobahn before it parses and
    unmasks every frame in pure Python. At 20 inputs per player per second
    those two are most of the server's work. Here, once the socket is open,
    whole unfragmented masked data frames up to `max_size` bytes are parsed
    and unmasked in one step and given to `handler`, which must not block (it
    may start tasks). Anything else (control frames, fragments, bigger frames,
    anything malformed) goes to autobahn as it would have: control frames one
    by one, and everything from the first unusual data frame on for good.
    The ASGI path still carries the disconnect. Returns False (nothing
    changed) when not under daphne.
    """
    protocol = daphne_protocol(send)
    if protocol is None or not hasattr(protocol, "application_queue"):
        return False
    # Messages already queued came first: hand them over now, in order, so no
    # later frame overtakes them; anything else (a disconnect) stays queued.
    queue = protocol.application_queue
    waiting = []
    while not queue.empty():
        waiting.append(queue.get_nowait())
    for message in waiting:
        if message.get("type") == "websocket.receive":
            handler(message.get("bytes"), message.get("text"))
        else:
            queue.put_nowait(message)

    def on_message(payload: bytes, is_binary: bool) -> None:
        if protocol.muted:
            return
        protocol.last_ping = time.time()  # what daphne's own handler records
        if is_binary:
            handler(payload, None)
        else:
            handler(None, payload.decode("utf-8", "replace"))

    protocol.onMessage = on_message
    autobahn_data_received = protocol.dataReceived
    buffer = bytearray()

    def data_received(data: bytes) -> None:
        buffer.extend(data)
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            size, offset = second & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, offset = int.from_bytes(buffer[2:10], "big"), 10
            opcode = first & 0x0F
            plain = first & 0xF0 == 0x80 and second & 0x80  # FIN, no RSV bits, masked
            if not plain or size > max_size or opcode not in (1, 2, 8, 9, 10):
                # Not ours to parse: autobahn takes this byte stream from here on.
                protocol.dataReceived = autobahn_data_received
                rest = bytes(buffer)
                buffer.clear()
                autobahn_data_received(rest)
                return
            end = offset + 4 + size
            if len(buffer) < end:
                return
            if opcode >= 8:  # ping, pong, close: autobahn's handshakes and timers
                frame = bytes(buffer[:end])
                del buffer[:end]
                autobahn_data_received(frame)
                if protocol.dataReceived is not data_received:
                    return
                continue
            payload = unmask(buffer[offset + 4 : end], buffer[offset : offset + 4])
            del buffer[:end]
            on_message(payload, opcode == 2)

    protocol.dataReceived = data_received
    return True
