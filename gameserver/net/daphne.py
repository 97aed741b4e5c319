"""The daphne adapter: game and lobby sockets below daphne's and autobahn's per-frame Python.

Under daphne every client frame is parsed and unmasked by autobahn in pure
Python and queued for the application task, and every server frame goes
through daphne's and autobahn's send path. At game rates those are most of
the server's work (docs/benchmarks.md). This module, and only this module,
reaches below them, on live objects of daphne 4.2, autobahn 26.10, Twisted
26.10 and channels 4.3:

* inbound: `FastSocket.take_messages` feeds every byte the client sends to a
  `gameserver.net.codec.FrameDecoder` and acts on its events (messages to a
  handler, pings answered, pongs and closes handed to autobahn's own state
  machine, protocol errors closed with their code);
* outbound: `FastSocket.write` writes a prebuilt frame straight to the
  socket, and `FastSocket.pending_bytes` says how much is queued for a
  client that stopped reading;
* the read callback: under Twisted's asyncio reactor (daphne's), the socket's
  readiness calls one small callback that reads and hands the bytes to the
  protocol, instead of Twisted's five-call read path that builds a log prefix
  and a log context for every read; anything but bytes goes back to the
  reactor's own read step (`direct_reads`, with its own guard);
* every new connection: autobahn pretty-prints the connection's settings
  for a DEBUG line that its logger drops unless debugging; `lazy_config_dump`
  (once per process, at start-up, with its own guard) has that text made
  only when the line is written.
* every HTTP POST: Twisted parses the body of a request with a
  `Content-Type` as a form into `request.args` (the header itself through
  the standard library's email parser), which daphne never reads: it hands
  the body to the application as it came. `no_form_parsing` (once per
  process, at start-up, with its own guard) makes daphne's requests with
  Twisted's own `parsePOSTFormSubmission=False`.

Whether a socket gets all of that is decided once, by `fast_socket`: only
when the installed versions are inside `TESTED_VERSIONS` (the bounds of
pyproject.toml) and every private name the adapter uses exists on the live
objects (`missing_attributes`). Otherwise the socket takes the fallback, the
plain ASGI path any ASGI server offers, and the process logs one WARNING
naming the reason. docs/sockets.md is the contract.

Imports: the standard library and `gameserver.net.codec` only. The live
objects come from daphne; nothing here imports daphne, autobahn or Twisted.
"""

from __future__ import annotations

import array
import fcntl
import functools
import importlib.metadata
import inspect
import logging
import pprint
import re
import sys
import termios
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gameserver.net.codec import (
    Close,
    FrameDecoder,
    Message,
    Opcode,
    Ping,
    Pong,
    ProtocolError,
    encode_frame,
)

__all__ = [
    "CONNECTION_GONE",
    "KERNEL_CHECK_EVERY",
    "PROTOCOL_ATTRIBUTES",
    "REACTOR_ATTRIBUTES",
    "TESTED_VERSIONS",
    "TRANSPORT_ATTRIBUTES",
    "FastSocket",
    "Handler",
    "Send",
    "close_with_any_code",
    "daphne_protocol",
    "direct_reads",
    "fallback_reason",
    "fast_socket",
    "installed_versions",
    "lazy_config_dump",
    "missing_attributes",
    "no_form_parsing",
    "raw_send",
    "start_up_patches",
    "version_problems",
    "websocket_frame",
]

logger = logging.getLogger(__name__)

Send = Callable[[Any], Awaitable[None]]
"""An ASGI `send` callable (a consumer's `base_send`): it takes one message dict.

The message is `Any`: channels' stubs type `base_send` with asgiref's
per-event TypedDicts, and the code here builds plain dicts.
"""
Handler = Callable[[bytes | None, str | None], None]
"""`handler(bytes, None)` for a binary message, `handler(None, text)` for a text one."""

TESTED_VERSIONS: dict[str, tuple[str, str]] = {
    "channels": ("4.3", "4.4"),
    "daphne": ("4.2", "4.3"),
    "autobahn": ("26.10", "26.11"),
    "Twisted": ("26.10", "26.11"),
}
"""Distribution → (lowest, first excluded) version: `>=low,<high`, as in pyproject.toml.

The one place the adapter's version range is written down; a test checks it
against pyproject.toml's bounds. Widen both only after the tests named in
docs/sockets.md pass on the new release.
"""

PROTOCOL_ATTRIBUTES = (
    # daphne's WebSocketProtocol
    "application_queue", "muted", "last_ping",
    # autobahn's WebSocketServerProtocol: state, parser state at the hand-over,
    # methods replaced or called, keepalive bookkeeping
    "state", "STATE_OPEN", "STATE_CLOSING",
    "send_state", "SEND_STATE_GROUND", "_perMessageCompress", "autoFragmentSize",
    "data", "current_frame", "inside_message",
    "dataReceived", "onMessage", "sendCloseFrame", "sendPong",
    "autoPingTimeoutCall", "autoPingRestartOnAnyTraffic", "_cancelAutoPingTimeoutCall",
    "transport",
)
"""Names the fast path reads, replaces or calls on daphne's protocol object."""

TRANSPORT_ATTRIBUTES = (
    # Twisted's TCP transport (twisted.internet.tcp.Connection)
    "dataBuffer", "offset", "_tempDataLen", "socket", "disconnecting",
    "write", "loseWriteConnection", "bufferSize", "protocol",
)
"""Names the fast path reads or calls on the protocol's Twisted transport."""

REACTOR_ATTRIBUTES = ("_asyncioEventloop", "_readers", "_readOrWrite", "_disconnectSelectable")
"""Names `direct_reads` reads or calls on Twisted's asyncio reactor (the transport's `reactor`)."""

KERNEL_CHECK_EVERY = 8
"""Read the kernel's send queue (a syscall) on every 8th pending-bytes probe only."""

_CLOSE_ATTRIBUTES = ("state", "STATE_OPEN", "sendCloseFrame")

CONNECTION_GONE = "the connection was no longer open when the application accepted it"
"""`fallback_reason` for a client that left before the accept: not logged as a WARNING."""


# Versions ---------------------------------------------------------------------


def _release(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string ("26.10.2rc1" → (26, 10, 2))."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _in_range(version: str, low: str, high: str) -> bool:
    release = _release(version)
    # A pre-release of the lower bound compares equal to it here; the ranges
    # are whole minor (CalVer: month) releases, so that is conservative enough.
    return bool(release) and _release(low) <= release < _release(high)


def installed_versions() -> dict[str, str | None]:
    """The installed version of every distribution in `TESTED_VERSIONS` (None: not installed)."""
    versions: dict[str, str | None] = {}
    for name in TESTED_VERSIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def version_problems(installed: dict[str, str | None] | None = None) -> list[str]:
    """Each installed version outside `TESTED_VERSIONS`, described; [] when all are inside."""
    installed = installed_versions() if installed is None else installed
    problems = []
    for name, (low, high) in TESTED_VERSIONS.items():
        version = installed.get(name)
        if version is None or not _in_range(version, low, high):
            problems.append(f"{name} {version or 'not installed'} (tested: >={low},<{high})")
    return problems


@functools.lru_cache(maxsize=1)
def _process_version_problems() -> tuple[str, ...]:
    # Installed packages do not change under a running process: read them once.
    return tuple(version_problems())


@functools.lru_cache(maxsize=1)
def _describe_versions() -> str:
    # Read once too: a socket whose client left before its accept lacks the
    # protocol attributes, and under a join storm each such socket re-read the
    # installed packages' metadata here (about 10 ms each).
    return ", ".join(f"{name} {v}" for name, v in installed_versions().items())


# Finding daphne's protocol ----------------------------------------------------------


def raw_send(send: Send) -> Send:
    """The ASGI server's own `send`, below Channels' session wrapper and ours.

    Those wrappers (`channels.sessions.InstanceSessionWrapper.send`, the
    close-code middleware) keep the inner send as `real_send` and only act
    on HTTP responses and closes; skipping them on the per-frame path saves
    a coroutine frame and attribute reads per write.
    """
    for _ in range(16):  # wrappers are a few deep; never loop on a cycle
        owner = getattr(send, "__self__", None)
        inner = getattr(owner, "real_send", None)
        if inner is None:
            return send
        send = inner
    return send


def daphne_protocol(send: Send) -> Any:
    """The daphne WebSocket protocol behind an ASGI `send`, or None when it is not daphne's.

    Daphne passes `functools.partial(server.handle_reply, protocol)`.
    """
    send = raw_send(send)
    if (
        isinstance(send, functools.partial)
        and send.args
        and getattr(send.func, "__name__", None) == "handle_reply"
    ):
        return send.args[0]
    return None


def missing_attributes(protocol: Any) -> list[str]:
    """Every private name the fast path needs that `protocol` (or its transport) lacks.

    Checked once per socket, all at once, so an upgrade that renames one is
    reported by name instead of failing somewhere mid-frame.
    """
    missing = [f"protocol.{name}" for name in PROTOCOL_ATTRIBUTES if not hasattr(protocol, name)]
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        missing += [
            f"transport.{name}" for name in TRANSPORT_ATTRIBUTES if not hasattr(transport, name)
        ]
    return missing


def fallback_reason(send: Send, enabled: bool = True) -> str | None:
    """Why the socket behind `send` cannot take the fast path; None when it can."""
    if not enabled:
        return "switched off (SOCKET_FAST_PATH=off)"
    protocol = daphne_protocol(send)
    if protocol is None:
        return f"the ASGI server is not daphne (its send is {type(raw_send(send)).__name__})"
    if hasattr(protocol, "STATE_OPEN") and getattr(protocol, "state", None) not in (
        None, protocol.STATE_OPEN
    ):
        # The client left before the accept completed: autobahn never set up
        # its frame state and Twisted dropped the socket, which would read as
        # missing names below. Nothing about the process.
        return CONNECTION_GONE
    problems = _process_version_problems()
    if problems:
        return (
            "installed versions outside the tested range: " + "; ".join(problems)
            + f" (installed: {_describe_versions()})"
        )
    missing = missing_attributes(protocol)
    if missing:
        return (
            "daphne/autobahn/Twisted objects lack " + ", ".join(missing)
            + f" (installed: {_describe_versions()})"
        )
    if protocol._perMessageCompress is not None:
        return "the connection negotiated permessage-deflate"
    if protocol.autoFragmentSize:
        return "autobahn's autoFragmentSize is set"
    return None


_warned = False


def _warn_once(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning(
            "socket fast path unavailable, sockets use plain ASGI (slower; no outbound "
            "backlog limit): %s", reason,
        )


def fast_socket(send: Send, enabled: bool = True) -> FastSocket | None:
    """The fast path for the socket behind `send`, or None for the fallback (plain ASGI).

    `enabled=False` (SOCKET_FAST_PATH=off) forces the fallback. The first
    fallback in a process logs one WARNING with the reason; later ones are
    silent (callers count them in metrics).
    """
    reason = fallback_reason(send, enabled)
    if reason is not None:
        if reason != CONNECTION_GONE:
            _warn_once(reason)
        return None
    return FastSocket(daphne_protocol(send), raw_send(send))


def close_with_any_code(send: Send, code: int) -> bool:
    """Close a daphne socket with a code autobahn's `sendClose` refuses; False: use ASGI.

    Daphne closes through autobahn's `sendClose`, which accepts only 1000
    and 3000–4999 and raises on anything else, so 1009, 1011, 1012 or 1013
    would never reach the client. Those go out as a raw close frame through
    autobahn's `sendCloseFrame`, which also moves its state machine to
    CLOSING as `sendClose` would. Returns False (the caller sends the ASGI
    close) for codes autobahn accepts, and when `send` is not daphne's.
    Not part of the fast path: closing with the right code is needed on
    both paths.
    """
    if code == 1000 or 3000 <= code <= 4999:
        return False
    protocol = daphne_protocol(send)
    if protocol is None or any(not hasattr(protocol, name) for name in _CLOSE_ATTRIBUTES):
        return False
    if protocol.state == protocol.STATE_OPEN:
        protocol.sendCloseFrame(code=code, isReply=False)
    return True


def websocket_frame(payload: bytes, text: bool = False) -> bytes:
    """A whole, unmasked, unfragmented data frame (RFC 6455 §5.2) as a server sends it.

    Server frames are never masked, so the bytes are the same for every
    client: a hub builds them once per message.
    """
    return encode_frame(Opcode.TEXT if text else Opcode.BINARY, payload)


def direct_reads(transport: Any) -> bool:
    """Have the event loop read `transport`'s socket with one small callback of ours.

    Twisted's asyncio reactor registers each reader with the event loop as
    `callWithLogger(reader, reactor._readOrWrite, reader, True)`: for every
    read it asks the transport for its log prefix and runs the read inside a
    fresh log context, then `_readOrWrite` checks the descriptor and calls the
    transport's `doRead`, which calls `recv` and then `_dataReceived`, which
    calls the protocol: five Python calls around one `recv` and one
    `dataReceived`, on every read of every socket. This registers a callback
    that does just those two (`recv` of the transport's `bufferSize`, then
    `transport.protocol.dataReceived`) and hands everything else back to the
    reactor: the end of the stream goes to its own read step `_readOrWrite`
    (which reads again, sees the end and closes the connection as always); an
    error from `recv`, and an exception from the protocol (logged), to
    `_disconnectSelectable`, as `_readOrWrite` does with them. The
    reactor's bookkeeping (`_readers`) is unchanged, so pausing, resuming and
    closing work as before (a paused and resumed transport gets the reactor's
    own registration back).

    Returns False and changes nothing when the transport is not a reader of
    an asyncio reactor with the names in `REACTOR_ATTRIBUTES` (e.g. under
    Twisted's test reactors); the socket then keeps Twisted's read path.
    """
    reactor = getattr(transport, "reactor", None)
    if reactor is None or any(not hasattr(reactor, name) for name in REACTOR_ATTRIBUTES):
        return False
    fd = reactor._readers.get(transport)
    if fd is None or fd != transport.fileno():
        return False  # not reading now (paused, or polled some other way)
    recv, size = transport.socket.recv, transport.bufferSize
    read_step, disconnect = reactor._readOrWrite, reactor._disconnectSelectable

    def readable() -> None:
        try:
            data = recv(size)
        except BlockingIOError:
            return  # woken for nothing: as Twisted's doRead
        except OSError as exc:
            disconnect(transport, exc, True)  # the connection is lost (reset, ...)
            return
        if not data:
            read_step(transport, True)  # the end: the reactor's own step sees it and closes
            return
        try:
            transport.protocol.dataReceived(data)
        except Exception as exc:
            logger.exception("error in a socket's read callback; closing the connection")
            disconnect(transport, exc, True)

    reactor._asyncioEventloop.add_reader(fd, readable)
    return True


AUTOBAHN_PROTOCOL_MODULE = "autobahn.websocket.protocol"
"""The module whose `pformat` global `lazy_config_dump` replaces."""


class _Pformatted:
    """`pprint.pformat(value)`, made only when something formats or prints it."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __repr__(self) -> str:
        return str(self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _lazy_pformat(value: object, *args: Any, **kwargs: Any) -> Any:
    """autobahn's `pformat`: a list (its per-connection settings dump, the only list
    it formats) deferred; anything else (its timings' and transport's `__str__`)
    formatted at once, as they must return a string."""
    if type(value) is list and not args and not kwargs:
        return _Pformatted(value)
    return pprint.pformat(value, *args, **kwargs)


def lazy_config_dump(module: Any = None) -> bool:
    """Stop autobahn pretty-printing every connection's settings for a dropped DEBUG line.

    autobahn's `WebSocketProtocol._connectionMade` runs
    `self.log.debug("\\n{attrs}", attrs=pformat(config))` for every
    connection: some 0.15 ms of pretty-printing a list of 29 settings, for a
    line txaio's logger drops unless its level is debug. This replaces the
    `pformat` global of `module` (default: autobahn's protocol module, if
    loaded) so that the list is formatted only if the line is written.
    Returns True when in effect; False, changing nothing, when the installed
    versions are outside `TESTED_VERSIONS`, the module is not loaded, or its
    `pformat` is not the standard library's.
    """
    if module is None:
        module = sys.modules.get(AUTOBAHN_PROTOCOL_MODULE)
    current = getattr(module, "pformat", None)
    if current is _lazy_pformat:
        return True
    if module is None or current is not pprint.pformat or _process_version_problems():
        return False
    module.pformat = _lazy_pformat
    return True


DAPHNE_HTTP_MODULE = "daphne.http_protocol"
"""The module whose `WebRequest` global `no_form_parsing` replaces (daphne's HTTP
factory makes every request of a connection from that global)."""

FORM_PARSING_PARAMETER = "parsePOSTFormSubmission"
"""Twisted's `http.Request` argument: False leaves POST bodies unparsed (Twisted 22.10+)."""


def no_form_parsing(module: Any = None) -> bool:
    """Stop Twisted parsing every POST body as a form for a `request.args` nobody reads.

    Twisted's `http.Request.requestReceived` parses the `Content-Type` of
    every POST with a body through `email.message.EmailMessage` (about 0.3 ms
    of a guest session's 2.7 ms, issue #17) and an urlencoded or multipart
    body into `request.args`; daphne sends the application the body itself
    and never reads `args`. This replaces the `WebRequest` global of `module`
    (default: daphne's HTTP module, if loaded) with a subclass that passes
    Twisted's own `parsePOSTFormSubmission=False`. Returns True when in
    effect; False, changing nothing, when the installed versions are outside
    `TESTED_VERSIONS`, the module is not loaded, or its request class takes
    no such argument.
    """
    if module is None:
        module = sys.modules.get(DAPHNE_HTTP_MODULE)
    current = getattr(module, "WebRequest", None)
    if getattr(current, "_without_form_parsing", False):
        return True
    if (module is None or not isinstance(current, type) or not _takes_form_flag(current)
            or _process_version_problems()):
        return False
    module.WebRequest = _without_form_parsing(current)
    return True


def _takes_form_flag(request_class: type) -> bool:
    """Whether a class in `request_class`'s MRO takes `parsePOSTFormSubmission`."""
    for cls in request_class.__mro__:
        init = vars(cls).get("__init__")
        if init is None:
            continue
        try:
            if FORM_PARSING_PARAMETER in inspect.signature(init).parameters:
                return True
        except (TypeError, ValueError):
            continue
    return False


def _without_form_parsing(base: type) -> type:
    class WebRequest(base):  # type: ignore[misc]  # daphne's, found at run time
        __doc__ = f"daphne's {base.__name__}, its POST bodies left unparsed by Twisted."
        _without_form_parsing = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault(FORM_PARSING_PARAMETER, False)
            super().__init__(*args, **kwargs)

    return WebRequest


def start_up_patches() -> dict[str, bool]:
    """Apply `lazy_config_dump` and `no_form_parsing` (the `gameserver` app's `ready()`).

    Returns which are in effect. One whose module is loaded (the process
    serves under daphne) but that did not apply is logged as a WARNING with
    the installed versions, so a fallback to the libraries' own behaviour is
    visible; where the module is not loaded (tests, `manage.py` commands)
    there is nothing to patch and nothing is logged.
    """
    applied = {"lazy_config_dump": lazy_config_dump(), "no_form_parsing": no_form_parsing()}
    modules = {"lazy_config_dump": AUTOBAHN_PROTOCOL_MODULE,
               "no_form_parsing": DAPHNE_HTTP_MODULE}
    for name, ok in applied.items():
        if not ok and modules[name] in sys.modules:
            logger.warning("%s not in effect: %s left as it is (installed: %s)",
                           name, modules[name], _describe_versions())
    return applied


def kernel_send_queue(fd: int) -> int:
    """Bytes in a TCP socket's kernel send queue (unsent and unacknowledged)."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.TIOCOUTQ, buf)
    return int(buf[0])


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client control frame (≤ 125 bytes) masked with the all-zero key (§5.3 allows any key)."""
    return bytes((0x80 | opcode, 0x80 | len(payload))) + b"\0\0\0\0" + payload


# The socket ----------------------------------------------------------------------


class FastSocket:
    """One daphne WebSocket connection, driven below daphne and autobahn.

    Made by `fast_socket` only after every check passed.
    """

    __slots__ = (
        "_calls",
        "_direct",
        "_fd",
        "_kernel",
        "_sock",
        "direct_reads",
        "protocol",
        "send",
        "taken",
        "transport",
    )

    def __init__(self, protocol: Any, send: Send) -> None:
        self.protocol = protocol
        self.send = send
        """The ASGI server's own send (`raw_send`): for frames the fast write cannot take."""
        self.transport = transport = protocol.transport
        self.taken = False
        self.direct_reads = False
        """Whether the event loop calls the reactor's read step directly (`direct_reads`)."""
        # Twisted's write() always buffers and registers the socket for writing
        # (two epoll_ctl calls and a reactor round per frame). On a plain TCP
        # transport with nothing buffered, the kernel takes the frame at once.
        self._sock = transport.socket
        self._direct = type(transport).__module__ == "twisted.internet.tcp"
        self._fd = self._sock.fileno() if self._direct else -1
        self._calls = 0
        self._kernel = 0

    # Outbound ----------------------------------------------------------------

    def write(self, frame: bytes) -> bool:
        """Write a prebuilt server frame (`websocket_frame`) to the socket; False: nothing written.

        False unless the connection is open and between frames; the caller
        then uses the ASGI `send`, which reports a closed connection.
        """
        protocol = self.protocol
        if (
            protocol.state != protocol.STATE_OPEN
            or protocol.send_state != protocol.SEND_STATE_GROUND
        ):
            return False
        transport = self.transport
        if (
            self._direct
            and not transport._tempDataLen
            and transport.offset >= len(transport.dataBuffer)
            and not transport.disconnecting
        ):
            try:
                sent = self._sock.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:
                return False  # the ASGI path reports the broken connection
            if sent == len(frame):
                return True
            frame = frame[sent:]
        transport.write(frame)
        return True

    def pending_bytes(self) -> int:
        """Bytes queued for this socket and not yet read by the client (as far as knowable).

        Twisted's transport keeps unwritten data in `dataBuffer` (from
        `offset`) and `_tempDataLen`; it only grows once the kernel's send
        queue is full, which on loopback can hold megabytes, so the kernel's
        queue is counted too (read every `KERNEL_CHECK_EVERY` calls).
        """
        self._calls += 1
        if self._fd >= 0 and self._calls % KERNEL_CHECK_EVERY == 0:
            try:
                self._kernel = kernel_send_queue(self._fd)
            except OSError:
                self._kernel = 0
        transport = self.transport
        queued: int = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        return queued + self._kernel

    # Inbound -----------------------------------------------------------------

    def take_messages(self, handler: Handler, max_message_bytes: int) -> bool:
        """From now on, read this socket's frames here and give whole messages to `handler`.

        `handler(bytes, None)` / `handler(None, text)` runs synchronously in
        Twisted's read callback: it must not block (it may start tasks).
        Messages daphne already queued for the application are handed over
        first, in order. Every later byte goes to a `FrameDecoder` with
        `max_message_bytes`, and each event is acted on:

        * `Message` → `handler` (daphne's `last_ping` and autobahn's
          keepalive bookkeeping updated as for any data frame);
        * `Ping` → a pong with the same payload, written like any frame;
        * `Pong`, `Close` → handed to autobahn as the equivalent frame, so its
          keepalive, closing handshake and daphne's `websocket.disconnect`
          (with the client's code) happen as on the plain path;
        * `ProtocolError` → a close frame with its code (1002, 1007, 1009),
          then the TCP connection is closed once written; the application
          gets `websocket.disconnect` (code 1006: no closing handshake).

        If autobahn is in the middle of a frame when this is called, it keeps
        the stream until that message ends. Returns False (nothing changed)
        when the connection is no longer open.
        """
        protocol = self.protocol
        if self.taken:
            raise RuntimeError("take_messages called twice on one socket")
        if protocol.state != protocol.STATE_OPEN:
            return False
        self.taken = True
        # Messages already queued came first: hand them over now, in order, so
        # no later frame overtakes them; anything else (a disconnect) stays.
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
            # Messages autobahn still completes during the hand-over (below).
            if protocol.muted:
                return
            protocol.last_ping = time.time()  # what daphne's own onMessage records
            if is_binary:
                handler(payload, None)
            else:
                handler(None, payload.decode("utf-8"))  # autobahn validated it

        protocol.onMessage = on_message
        autobahn_data_received = protocol.dataReceived
        decoder = FrameDecoder(max_message_bytes)
        feed = decoder.feed
        open_state, closing = protocol.STATE_OPEN, protocol.STATE_CLOSING

        def data_received(data: bytes) -> None:
            state = protocol.state
            if state != open_state and state != closing:
                return  # autobahn ignores input once closed, too
            events = feed(data)
            if not events:
                return
            got_message = False
            muted = protocol.muted  # daphne mutes a socket from the reactor, never mid-chunk
            for event in events:
                if type(event) is Message:
                    got_message = True
                    if muted:
                        continue
                    payload = event.payload
                    if type(payload) is bytes:
                        handler(payload, None)
                    else:
                        handler(None, payload)  # type: ignore[arg-type]
                elif type(event) is Ping:
                    self._pong(event.payload)
                elif type(event) is Pong:
                    # Autobahn's own keepalive bookkeeping (the auto-ping
                    # daphne sends to idle clients) and onPong.
                    autobahn_data_received(_masked(0xA, event.payload))
                elif type(event) is Close:
                    self._close(autobahn_data_received, event)
                elif type(event) is ProtocolError:
                    self._fail(event)
            if got_message:
                protocol.last_ping = time.time()
                # As autobahn does for every data frame: traffic proves the
                # client alive, so a pending auto-ping stops counting down.
                if protocol.autoPingTimeoutCall and protocol.autoPingRestartOnAnyTraffic:
                    protocol._cancelAutoPingTimeoutCall()

        def take_over() -> None:
            # Autobahn is between frames: what it buffered is the start of the
            # next frame, so the decoder continues from there.
            buffered = bytes(protocol.data)
            protocol.data = b""
            protocol.dataReceived = data_received
            if buffered:
                data_received(buffered)

        def hand_over(data: bytes) -> None:
            # Autobahn was inside a frame or a fragmented message: let it
            # finish that message, then take the stream from the next frame.
            autobahn_data_received(data)
            if protocol.state != open_state and protocol.state != closing:
                return
            if protocol.current_frame is None and not protocol.inside_message:
                take_over()

        if protocol.current_frame is None and not protocol.inside_message:
            take_over()
        else:
            protocol.dataReceived = hand_over
        self.direct_reads = direct_reads(self.transport)
        return True

    def _pong(self, payload: bytes) -> None:
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return  # as autobahn: no pong once the closing handshake started
        if not self.write(encode_frame(Opcode.PONG, payload)):
            protocol.sendPong(payload)

    def _close(self, autobahn_data_received: Callable[[bytes], None], event: Close) -> None:
        """The client's close: autobahn answers it and drops the TCP connection, as it would."""
        body = b"" if event.code == 1005 else event.code.to_bytes(2, "big") + event.reason.encode()
        autobahn_data_received(_masked(0x8, body))

    def _fail(self, event: ProtocolError) -> None:
        """Fail the connection (RFC 6455 §7.1.7): close frame with the code, then close TCP.

        The client's reply is not read (the stream cannot be trusted after a
        protocol error). The write side is shut once the close frame is out,
        so the frame is not lost to a reset; autobahn's closing-handshake
        timeout aborts the connection if the client never closes its side.
        """
        protocol = self.protocol
        logger.info("failing a WebSocket connection (%s): %s", event.close_code, event.reason)
        if protocol.state == protocol.STATE_OPEN:
            protocol.sendCloseFrame(
                code=event.close_code, reasonUtf8=event.reason.encode(), isReply=False
            )
        self.transport.loseWriteConnection()
