"""The daphne adapter on real daphne, autobahn and Twisted objects.

Each test builds daphne's own `WebSocketProtocol` from daphne's factory
(configured as `daphne.server.Server` configures it), on a real Twisted TCP
transport over a connected loopback socket pair, and opens it with a real
handshake. Only the reactor is Twisted's `MemoryReactorClock`: the test
drives reads, writes and timers itself, so nothing sleeps and nothing races.
The client side is a plain socket; its frames are built by the `websockets`
client protocol (masked, as a browser sends them).
"""

from __future__ import annotations

import ast
import asyncio
import functools
import logging
import pprint
import select
import socket
import struct
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import txaio
from daphne.ws_protocol import WebSocketFactory
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import tcp
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.protocol import Protocol as Protocol_
from twisted.internet.protocol import connectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python import log as twisted_log
from twisted.python.failure import Failure
from websockets.frames import Close as WsClose
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from gameserver.net import daphne as adapter
from gameserver.net.daphne import (
    TESTED_VERSIONS,
    FastSocket,
    fallback_reason,
    fast_socket,
    missing_attributes,
    version_problems,
    websocket_frame,
)
from gameserver.net.socket import Socket

ROOT = Path(__file__).resolve().parents[3]
MAX = 4096


class FakeDaphneServer:
    """The few things daphne's WebSocketProtocol asks of `daphne.server.Server`."""

    root_path = ""
    proxy_forwarded_address_header = None

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.disconnected = False

    def protocol_connected(self, protocol: Any) -> None:
        pass

    def protocol_disconnected(self, protocol: Any) -> None:
        self.disconnected = True

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> asyncio.Queue[Any]:
        return self.queue

    def log_action(self, *args: Any) -> None:
        pass

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        protocol.handle_reply(message)


class Wire:
    """One open daphne WebSocket connection and the client end of its socket."""

    def __init__(self, reactor: MemoryReactorClock) -> None:
        self.reactor = reactor
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.client = socket.create_connection(listener.getsockname())
        self.client.settimeout(5)
        server_sock, addr = listener.accept()
        listener.close()
        server_sock.setblocking(False)
        self.server = FakeDaphneServer()
        factory = WebSocketFactory(self.server, server="Daphne", reactor=reactor)
        # As daphne.server.Server.run() configures it (default options).
        factory.setProtocolOptions(
            autoPingTimeout=30, allowNullOrigin=True, openHandshakeTimeout=5,
            maxMessagePayloadSize=1 << 20, maxFramePayloadSize=1 << 20,
        )
        self.protocol: Any = factory.buildProtocol(addr)
        self.protocol._raw_query_string = b""  # what daphne's HTTP protocol hands over
        # A real socket on the memory reactor, with no listening port behind it.
        self.transport = tcp.Server(
            server_sock, self.protocol, addr, None, 1, reactor  # type: ignore[arg-type]
        )
        self.protocol.makeConnection(self.transport)
        self.client.sendall(
            b"GET /ws/game/r/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.read()
        self.protocol.handle_reply({"type": "websocket.accept"})
        self.flush()
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.client.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert self.protocol.state == self.protocol.STATE_OPEN
        assert self.server.queue.get_nowait() == {"type": "websocket.connect"}
        self.send = functools.partial(self.server.handle_reply, self.protocol)
        self.ws = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)

    # Driving the transport, as the reactor would ----------------------------

    def read(self) -> None:
        """What the client sent, through Twisted's read path (first byte: waits up to 5 s)."""
        timeout = 5.0
        for _ in range(1000):
            if not select.select([self.transport.socket], [], [], timeout)[0]:
                return
            timeout = 0.0
            why = self.transport.doRead()
            if why is not None:
                self._lose(why)
                return
        raise AssertionError("read did not drain")

    def flush(self) -> None:
        """Twisted's buffered writes out to the socket; timers due now; a finished close."""
        for _ in range(1000):
            for _ in range(10):  # timers that schedule timers (batched, then chunked)
                self.reactor.advance(0)
            if self.lost or self.transport not in self.reactor.getWriters():
                return
            why = self.transport.doWrite()
            if why is not None:
                self._lose(why)
                return
        raise AssertionError("flush did not finish")

    @property
    def lost(self) -> bool:
        """The TCP connection is gone (Twisted told the protocol)."""
        return not self.transport.connected

    def _lose(self, why: BaseException) -> None:
        # What the reactor does when doRead/doWrite report the connection done.
        self.reactor.removeReader(self.transport)
        self.reactor.removeWriter(self.transport)
        if not self.lost:
            self.transport.connectionLost(Failure(why))

    # The client's side ----------------------------------------------------------

    def send_frames(self, *frames: Frame) -> bytes:
        for frame in frames:
            self.ws.send_frame(frame)
        return b"".join(self.ws.data_to_send())

    def client_sends(self, data: bytes) -> None:
        self.client.sendall(data)
        self.read()

    def received(self) -> list[Frame]:
        """Frames the server wrote so far (after flushing Twisted's buffer)."""
        self.flush()
        self.client.setblocking(False)
        data = b""
        while True:
            try:
                chunk = self.client.recv(65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        frames = []  # server frames: unmasked, lengths as encoded
        while data:
            first, second = data[0], data[1]
            size, offset = second & 0x7F, 2
            if size == 126:
                size, offset = int.from_bytes(data[2:4], "big"), 4
            elif size == 127:
                size, offset = int.from_bytes(data[2:10], "big"), 10
            payload = data[offset:offset + size]
            frames.append(Frame(Opcode(first & 0x0F), payload, bool(first & 0x80)))
            data = data[offset + size:]
        return frames

    def client_eof(self) -> bool:
        self.flush()
        self.client.setblocking(True)
        self.client.settimeout(2)
        try:
            while True:
                chunk = self.client.recv(65536)
                if not chunk:
                    return True
        except (TimeoutError, ConnectionResetError):
            return False

    def app_messages(self) -> list[dict[str, Any]]:
        out = []
        while not self.server.queue.empty():
            out.append(self.server.queue.get_nowait())
        return out

    def close(self) -> None:
        self.client.close()
        if not self.lost:
            self.transport.connectionLost(Failure(ConnectionResetError()))


@pytest.fixture
def reactor() -> Iterator[MemoryReactorClock]:
    clock = MemoryReactorClock()
    # txaio sets `config` up at import time; its stubs do not declare it.
    config = txaio.config  # type: ignore[attr-defined]
    previous = config.loop
    config.loop = clock  # autobahn's timers (close handshake, auto-ping) run on it
    yield clock
    config.loop = previous


@pytest.fixture
def wire(reactor: MemoryReactorClock) -> Iterator[Wire]:
    w = Wire(reactor)
    yield w
    w.close()


class Taken:
    """A fast socket taking messages into a list."""

    def __init__(self, wire: Wire, max_bytes: int = MAX) -> None:
        self.messages: list[tuple[bytes | None, str | None]] = []
        sock = fast_socket(wire.send)
        assert sock is not None, fallback_reason(wire.send)
        self.sock: FastSocket = sock
        assert sock.take_messages(lambda b, t: self.messages.append((b, t)), max_bytes)


def close_code(frames: list[Frame]) -> int | None:
    for frame in frames:
        if frame.opcode is Opcode.CLOSE:
            return WsClose.parse(frame.data).code
    return None


# The guard ------------------------------------------------------------------------


def _pyproject_bounds() -> dict[str, tuple[str, str]]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {}
    for dep in deps:
        name, _, spec = dep.partition(">=")
        if name in TESTED_VERSIONS:
            low, _, high = spec.partition(",<")
            bounds[name] = (low, high)
    return bounds


def test_the_socket_layer_imports_only_the_standard_library() -> None:
    # gameserver/net/ is the bottom layer: the adapter works on the live
    # objects daphne hands it and imports neither daphne nor the project.
    for path in sorted((ROOT / "gameserver" / "net").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or name.startswith("gameserver.net"), (
                    f"{path.name} imports {name}"
                )


def test_tested_versions_are_pyprojects_bounds() -> None:
    assert _pyproject_bounds() == TESTED_VERSIONS


def test_the_installed_versions_are_inside_the_range() -> None:
    assert version_problems() == []


@pytest.mark.parametrize(
    ("installed", "bad"),
    [
        ({"daphne": "4.3.0"}, "daphne 4.3.0 (tested: >=4.2,<4.3)"),
        ({"autobahn": "26.9.1"}, "autobahn 26.9.1 (tested: >=26.10,<26.11)"),
        ({"Twisted": "27.1.0"}, "Twisted 27.1.0 (tested: >=26.10,<26.11)"),
        ({"channels": None}, "channels not installed (tested: >=4.3,<4.4)"),
    ],
)
def test_versions_outside_the_range_are_named(installed: dict[str, str | None], bad: str) -> None:
    versions = {name: low + ".0" for name, (low, _) in TESTED_VERSIONS.items()} | installed
    assert version_problems(versions) == [bad]


def test_a_live_daphne_socket_has_every_attribute(wire: Wire) -> None:
    assert missing_attributes(wire.protocol) == []
    assert fallback_reason(wire.send) is None


def test_a_missing_private_attribute_is_named_and_falls_back(
    wire: Wire, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As if an upgrade had renamed one name of autobahn's and one of Twisted's.
    del wire.protocol.current_frame
    del wire.transport._tempDataLen
    assert missing_attributes(wire.protocol) == [
        "protocol.current_frame", "transport._tempDataLen"
    ]
    monkeypatch.setattr(adapter, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="gameserver.net.daphne"):
        assert fast_socket(wire.send) is None
        assert fast_socket(wire.send) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one WARNING per process, not per socket"
    text = warnings[0].getMessage()
    assert "protocol.current_frame" in text and "transport._tempDataLen" in text
    assert "daphne 4.2" in text  # the installed versions are named too


def test_versions_outside_the_range_fall_back(
    wire: Wire, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(adapter, "_process_version_problems",
                        lambda: ("daphne 4.3.0 (tested: >=4.2,<4.3)",))
    monkeypatch.setattr(adapter, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="gameserver.net.daphne"):
        assert fast_socket(wire.send) is None
    assert "daphne 4.3.0 (tested: >=4.2,<4.3)" in caplog.text


def test_switched_off_and_not_daphne_fall_back(wire: Wire) -> None:
    assert fast_socket(wire.send, enabled=False) is None
    assert fallback_reason(wire.send, enabled=False) == "switched off (SOCKET_FAST_PATH=off)"

    async def send(message: dict[str, object]) -> None:
        return None

    assert fast_socket(send) is None
    assert "not daphne" in (fallback_reason(send) or "")


# Inbound ----------------------------------------------------------------------------


def test_messages_reach_the_handler_in_order(wire: Wire) -> None:
    taken = Taken(wire)
    wire.client_sends(wire.send_frames(
        Frame(Opcode.BINARY, b"\x01\x02"), Frame(Opcode.TEXT, "héllo".encode()),
        Frame(Opcode.BINARY, b""),
    ))
    assert taken.messages == [(b"\x01\x02", None), (None, "héllo"), (b"", None)]
    assert wire.app_messages() == []  # nothing went through the ASGI queue


def test_messages_queued_before_the_take_over_come_first(wire: Wire) -> None:
    wire.client_sends(wire.send_frames(Frame(Opcode.BINARY, b"early")))
    taken = Taken(wire)
    wire.client_sends(wire.send_frames(Frame(Opcode.BINARY, b"late")))
    assert taken.messages == [(b"early", None), (b"late", None)]


def test_a_frame_autobahn_was_halfway_through_is_finished_then_taken_over(wire: Wire) -> None:
    stream = wire.send_frames(
        Frame(Opcode.BINARY, b"x" * 300), Frame(Opcode.BINARY, b"after"),
        Frame(Opcode.TEXT, b"frag", fin=False), Frame(Opcode.CONT, b"mented"),
    )
    wire.protocol.dataReceived(stream[:150])  # autobahn is inside the first frame
    taken = Taken(wire)
    wire.protocol.dataReceived(stream[150:])
    assert taken.messages == [(b"x" * 300, None), (b"after", None), (None, "fragmented")]
    assert wire.protocol.dataReceived.__name__ == "data_received"  # the decoder has it now


def test_partial_header_buffered_by_autobahn_moves_to_the_decoder(wire: Wire) -> None:
    stream = wire.send_frames(Frame(Opcode.BINARY, b"abc"))
    wire.protocol.dataReceived(stream[:1])
    taken = Taken(wire)
    wire.protocol.dataReceived(stream[1:])
    assert taken.messages == [(b"abc", None)]


def test_frames_split_at_every_byte_boundary(reactor: MemoryReactorClock) -> None:
    frames = (
        Frame(Opcode.BINARY, bytes(range(200))),
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.TEXT, "a€".encode()[:2], fin=False),
        Frame(Opcode.CONT, "a€".encode()[2:]),
        Frame(Opcode.BINARY, b"z" * 70),
    )
    expected = [(bytes(range(200)), None), (None, "a€"), (b"z" * 70, None)]
    probe = Wire(reactor)
    stream = probe.send_frames(*frames)
    probe.close()
    for cut in range(1, len(stream)):
        wire = Wire(reactor)
        taken = Taken(wire)
        wire.protocol.dataReceived(stream[:cut])
        wire.protocol.dataReceived(stream[cut:])
        assert taken.messages == expected, cut
        assert [f.opcode for f in wire.received()] == [Opcode.PONG]
        wire.close()


def test_fragmented_messages_stay_on_the_fast_path(wire: Wire) -> None:
    taken = Taken(wire)
    wire.client_sends(wire.send_frames(
        Frame(Opcode.BINARY, b"ab", fin=False), Frame(Opcode.PING, b"mid"),
        Frame(Opcode.CONT, b"cd", fin=False), Frame(Opcode.CONT, b"ef"),
    ))
    assert taken.messages == [(b"abcdef", None)]
    assert wire.protocol.dataReceived.__name__ == "data_received"


def test_a_ping_is_answered_with_a_pong(wire: Wire) -> None:
    taken = Taken(wire)
    wire.client_sends(wire.send_frames(Frame(Opcode.PING, b"are you there")))
    frames = wire.received()
    assert [(f.opcode, f.data) for f in frames] == [(Opcode.PONG, b"are you there")]
    assert taken.messages == []


def test_a_pong_to_daphnes_keepalive_ping_stops_its_timeout(
    wire: Wire, reactor: MemoryReactorClock
) -> None:
    Taken(wire)
    wire.protocol._sendAutoPing()  # what daphne's check_timeouts does to an idle client
    (ping,) = wire.received()
    assert ping.opcode is Opcode.PING
    wire.client_sends(wire.send_frames(Frame(Opcode.PONG, ping.data)))
    assert wire.protocol.autoPingPending is None
    reactor.advance(31)  # past autoPingTimeout: the connection must still be open
    wire.flush()
    assert wire.protocol.state == wire.protocol.STATE_OPEN and not wire.lost


def test_without_the_pong_the_keepalive_drops_the_connection(
    wire: Wire, reactor: MemoryReactorClock
) -> None:
    Taken(wire)
    wire.protocol._sendAutoPing()
    reactor.advance(31)
    wire.flush()
    assert wire.lost
    assert wire.app_messages() == [{"type": "websocket.disconnect", "code": 1006}]


def test_messages_update_daphnes_last_ping(wire: Wire) -> None:
    Taken(wire)
    wire.protocol.last_ping = 0.0
    wire.client_sends(wire.send_frames(Frame(Opcode.BINARY, b"x")))
    assert wire.protocol.last_ping > 0


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "bye"), (4321, "custom")])
def test_the_clients_close_completes_the_handshake(wire: Wire, code: int, reason: str) -> None:
    taken = Taken(wire)
    wire.client_sends(wire.send_frames(
        Frame(Opcode.BINARY, b"last"), Frame(Opcode.CLOSE, WsClose(code, reason).serialize())
    ))
    assert taken.messages == [(b"last", None)]
    assert close_code(wire.received()) == 1000  # autobahn's reply, as on the plain path
    assert wire.client_eof()
    assert wire.lost
    assert wire.app_messages() == [{"type": "websocket.disconnect", "code": code}]


def test_a_close_without_a_code(wire: Wire) -> None:
    Taken(wire)
    wire.client_sends(wire.send_frames(Frame(Opcode.CLOSE, b"")))
    assert wire.client_eof()
    assert wire.app_messages() == [{"type": "websocket.disconnect", "code": None}]


def test_the_clients_reply_to_our_close(wire: Wire) -> None:
    Taken(wire)
    assert adapter.close_with_any_code(wire.send, 1009)
    assert close_code(wire.received()) == 1009
    wire.client_sends(wire.send_frames(Frame(Opcode.CLOSE, WsClose(1009, "").serialize())))
    wire.flush()
    assert wire.lost
    assert wire.app_messages() == [{"type": "websocket.disconnect", "code": 1009}]


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (b"\x82\x03abc", 1002),  # not masked
        (bytes((0xC2, 0x80)) + b"\0\0\0\0", 1002),  # RSV1 without an extension
        (bytes((0x81, 0x82)) + b"\0\0\0\0" + b"\xc3\x28", 1007),  # invalid UTF-8
        (bytes((0x82, 0xFE)) + (MAX + 1).to_bytes(2, "big") + b"\0\0\0\0", 1009),
    ],
)
def test_protocol_errors_close_with_their_code(wire: Wire, stream: bytes, code: int) -> None:
    taken = Taken(wire)
    wire.client_sends(wire.send_frames(Frame(Opcode.BINARY, b"ok")) + stream)
    assert taken.messages == [(b"ok", None)]
    frames = wire.received()
    assert close_code(frames) == code
    # The write side is shut once the close frame is out: the client sees EOF,
    # closes, and the application gets its disconnect.
    assert wire.client_eof()
    wire.client.close()
    wire.read()
    assert wire.lost
    assert wire.app_messages() == [{"type": "websocket.disconnect", "code": 1006}]


def test_a_message_of_exactly_the_limit_passes(wire: Wire) -> None:
    taken = Taken(wire, max_bytes=300)
    wire.client_sends(wire.send_frames(
        Frame(Opcode.BINARY, b"a" * 200, fin=False), Frame(Opcode.CONT, b"b" * 100)
    ))
    assert taken.messages == [(b"a" * 200 + b"b" * 100, None)]
    wire.client_sends(wire.send_frames(
        Frame(Opcode.BINARY, b"a" * 200, fin=False), Frame(Opcode.CONT, b"b" * 101)
    ))
    assert close_code(wire.received()) == 1009


def test_a_client_that_never_closes_after_a_protocol_error_is_aborted(
    wire: Wire, reactor: MemoryReactorClock
) -> None:
    Taken(wire)
    wire.client_sends(b"\x82\x03abc")
    assert close_code(wire.received()) == 1002
    assert not wire.lost
    reactor.advance(2)  # autobahn's closing-handshake timeout (1 s)
    wire.flush()
    assert wire.lost
    assert wire.app_messages() == [{"type": "websocket.disconnect", "code": 1006}]


def test_no_take_over_once_closing(wire: Wire) -> None:
    sock = fast_socket(wire.send)
    assert sock is not None
    wire.protocol.sendClose(1000)
    assert not sock.take_messages(lambda b, t: None, MAX)


# Outbound -----------------------------------------------------------------------------


def test_write_goes_straight_to_the_socket(wire: Wire) -> None:
    sock = fast_socket(wire.send)
    assert sock is not None
    assert sock.write(websocket_frame(b"snap"))
    assert wire.transport not in wire.reactor.getWriters()  # not through Twisted's buffer
    assert [(f.opcode, f.data) for f in wire.received()] == [(Opcode.BINARY, b"snap")]
    assert sock.pending_bytes() == 0


def test_write_refuses_once_closing(wire: Wire) -> None:
    sock = fast_socket(wire.send)
    assert sock is not None
    wire.protocol.sendClose(1000)
    assert not sock.write(websocket_frame(b"late"))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
@pytest.mark.parametrize("text", [False, True])
def test_frames_parse_as_one_whole_message(size: int, text: bool) -> None:
    payload = (b"x" if text else bytes(range(256))[:1]) * size
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(websocket_frame(payload, text=text))
    events = client.events_received()
    assert len(events) == 1
    frame = events[0]
    assert isinstance(frame, Frame)
    assert frame.fin and frame.opcode == (Opcode.TEXT if text else Opcode.BINARY)
    assert frame.data == payload


# The read callback under Twisted's asyncio reactor -------------------------------------


class _Collect(Protocol_):
    def __init__(self) -> None:
        self.data = b""
        self.lost: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost = reason


@pytest.fixture
def asyncio_tcp() -> Iterator[tuple[asyncio.AbstractEventLoop, Any, tcp.Server, _Collect,
                                    socket.socket]]:
    """A Twisted TCP transport reading through an asyncio reactor (as daphne runs it),
    and its client's socket, over loopback TCP."""
    loop = asyncio.new_event_loop()
    reactor = AsyncioSelectorReactor(loop)
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server_sock, _ = listener.accept()
    listener.close()
    server_sock.setblocking(False)
    protocol = _Collect()
    transport = tcp.Server(
        server_sock, protocol, ("127.0.0.1", 1), None, 1, reactor  # type: ignore[arg-type]
    )
    protocol.makeConnection(transport)  # type: ignore[no-untyped-call]
    transport.startReading()
    yield loop, reactor, transport, protocol, client
    client.close()
    if transport.connected:
        transport.stopReading()
        transport.socket.close()
    loop.close()


def _loop_callback(loop: asyncio.AbstractEventLoop, fd: int) -> Any:
    handle = loop._selector.get_key(fd).data[0]  # type: ignore[attr-defined]
    return handle._callback


def _spin(loop: asyncio.AbstractEventLoop, until: Any) -> None:
    for _ in range(200):
        loop.run_until_complete(asyncio.sleep(0.005))
        if until():
            return


def test_direct_reads_skip_twisteds_read_path_and_keep_its_bookkeeping(
    asyncio_tcp: tuple[asyncio.AbstractEventLoop, Any, tcp.Server, _Collect, socket.socket],
) -> None:
    loop, reactor, transport, protocol, client = asyncio_tcp
    fd = transport.fileno()
    assert _loop_callback(loop, fd) is twisted_log.callWithLogger  # Twisted's own
    assert adapter.direct_reads(transport)
    assert _loop_callback(loop, fd) is not twisted_log.callWithLogger
    assert _loop_callback(loop, fd) != reactor._readOrWrite
    assert reactor._readers[transport] == fd  # the reactor's bookkeeping is untouched
    client.sendall(b"hello")
    _spin(loop, lambda: protocol.data == b"hello")
    assert protocol.data == b"hello"
    # Paused and resumed (flow control): the reactor registers it again, its own way.
    transport.stopReading()
    assert not adapter.direct_reads(transport)
    transport.startReading()
    assert _loop_callback(loop, fd) is twisted_log.callWithLogger
    assert adapter.direct_reads(transport)
    # The client goes away: the reactor's read step closes the connection as before.
    client.close()
    _spin(loop, lambda: protocol.lost is not None)
    assert protocol.lost is not None and not transport.connected
    assert transport not in reactor._readers


class _Failing(_Collect):
    def dataReceived(self, data: bytes) -> None:
        raise RuntimeError("boom")


def test_direct_reads_close_the_connection_when_the_protocol_raises(
    asyncio_tcp: tuple[asyncio.AbstractEventLoop, Any, tcp.Server, _Collect, socket.socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, reactor, transport, _, client = asyncio_tcp
    failing = _Failing()
    transport.protocol = failing  # type: ignore[assignment]
    assert adapter.direct_reads(transport)
    client.sendall(b"hello")
    _spin(loop, lambda: failing.lost is not None)
    assert failing.lost is not None and failing.lost.check(RuntimeError)
    assert not transport.connected and transport not in reactor._readers
    assert "error in a socket's read callback" in caplog.text


def test_direct_reads_report_a_reset_connection_as_lost(
    asyncio_tcp: tuple[asyncio.AbstractEventLoop, Any, tcp.Server, _Collect, socket.socket],
) -> None:
    loop, reactor, transport, protocol, client = asyncio_tcp
    assert adapter.direct_reads(transport)
    client.sendall(b"before")
    _spin(loop, lambda: protocol.data == b"before")
    # Closing with SO_LINGER 0 sends a reset: the server's recv fails.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    _spin(loop, lambda: protocol.lost is not None)
    assert protocol.lost is not None and protocol.lost.check(ConnectionResetError)
    assert not transport.connected and transport not in reactor._readers


def test_direct_reads_leave_other_reactors_alone(wire: Wire) -> None:
    assert not adapter.direct_reads(wire.transport)  # MemoryReactorClock: nothing to skip
    taken = Taken(wire)
    assert taken.sock.direct_reads is False
    wire.client_sends(wire.send_frames(Frame(Opcode.BINARY, b"still read")))
    assert taken.messages == [(b"still read", None)]


# Two messages in one write (a tick's events and its delta) ------------------------------


class _CountingSocket:
    """The transport's socket, counting `send` calls (system calls)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends = 0

    def send(self, data: bytes) -> int:
        self.sends += 1
        return self.sock.send(data)


def test_a_pair_of_messages_goes_out_in_one_write_and_in_order(wire: Wire) -> None:
    fast = fast_socket(wire.send)
    assert fast is not None
    counting = _CountingSocket(fast._sock)
    fast._sock = counting
    sock = Socket(wire.send, 1 << 20, fast)
    frames = websocket_frame(b"events") + websocket_frame(b"delta")
    assert asyncio.run(sock.write_many([b"events", b"delta"], frames))
    assert counting.sends == 1
    assert [(f.opcode, f.data) for f in wire.received()] == [
        (Opcode.BINARY, b"events"), (Opcode.BINARY, b"delta")
    ]


def test_write_ready_writes_at_once_only_for_an_open_socket_that_keeps_up(wire: Wire) -> None:
    fast = fast_socket(wire.send)
    assert fast is not None
    backlog = 0
    fast_pending = fast.pending_bytes
    sock = Socket(wire.send, 100, fast)
    sock._pending = lambda: fast_pending() + backlog
    assert sock.write_ready(websocket_frame(b"now"))
    backlog = 101  # over its limit: not written here; `write` is the one that drops it
    assert not sock.write_ready(websocket_frame(b"never"))
    assert not sock.closed
    backlog = 0
    sock.closed = True
    assert not sock.write_ready(websocket_frame(b"closed"))
    assert [f.data for f in wire.received()] == [b"now"]


def test_write_ready_is_never_taken_on_the_fallback() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    assert not Socket(send, 1 << 20).write_ready(websocket_frame(b"x"))
    assert sent == []


def test_a_pair_of_messages_on_the_fallback_is_two_asgi_sends_in_order() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    sock = Socket(send, 1 << 20)
    frames = websocket_frame(b"events") + websocket_frame(b"delta")
    assert asyncio.run(sock.write_many([b"events", b"delta"], frames))
    assert sent == [{"type": "websocket.send", "bytes": b"events"},
                    {"type": "websocket.send", "bytes": b"delta"}]


def test_a_connection_gone_before_the_accept_falls_back_without_a_warning(
    wire: Wire, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Under a join storm a client may give up before the application accepts:
    # autobahn and Twisted have then torn their state down, which must not read
    # as an upgrade that renamed their private names.
    wire.client.close()
    wire.read()
    assert wire.lost
    assert adapter.fallback_reason(wire.send) == adapter.CONNECTION_GONE
    monkeypatch.setattr(adapter, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="gameserver.net.daphne"):
        assert fast_socket(wire.send) is None
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []


# autobahn's settings dump per connection ------------------------------------------


class _DebugLines:
    """A txaio logger stand-in that writes every DEBUG line (as a debugging operator's would)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, fmt: str, **kwargs: Any) -> None:
        self.lines.append(fmt.format(**kwargs))

    def __getattr__(self, level: str) -> Any:
        return lambda *args, **kwargs: None


def test_the_settings_dump_is_made_only_when_its_debug_line_is_written(
    reactor: MemoryReactorClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sys.modules[adapter.AUTOBAHN_PROTOCOL_MODULE]
    monkeypatch.setattr(module, "pformat", pprint.pformat)
    assert adapter.lazy_config_dump()
    assert adapter.lazy_config_dump(), "twice is harmless"
    settings = [("autoPingTimeout", 30, "WebSocketFactory")]
    deferred = module.pformat(settings)
    assert not isinstance(deferred, str), "nothing is formatted unless the line is written"
    assert f"{deferred}" == str(deferred) == pprint.pformat(settings)
    # autobahn's timings and transport details must stay strings (their __str__ returns them).
    assert module.pformat({"a": 1}) == pprint.pformat({"a": 1})
    # A live connection opens as before, and a debug log still gets the settings.
    lines = _DebugLines()
    monkeypatch.setattr(DaphneWebSocketProtocol, "log", lines)
    w = Wire(reactor)
    try:
        assert [line for line in lines.lines if "'autoPingTimeout', 30" in line], lines.lines
    finally:
        w.close()


def test_the_settings_dump_is_left_alone_outside_the_tested_versions(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.SimpleNamespace(pformat=pprint.pformat)
    monkeypatch.setattr(adapter, "_process_version_problems", lambda: ("autobahn 27.1.0",))
    assert not adapter.lazy_config_dump(module)
    assert module.pformat is pprint.pformat
    monkeypatch.undo()
    renamed = types.SimpleNamespace(pformat=lambda value: "")  # autobahn formats some other way
    assert not adapter.lazy_config_dump(renamed)
    assert not adapter.lazy_config_dump(types.SimpleNamespace())
    assert adapter.lazy_config_dump(module)


# Twisted's form parsing of POST bodies ---------------------------------------------


def _post(request_class: Any, content_type: bytes, body: bytes) -> Any:
    """One POST through daphne's HTTP factory with `request_class` as its requests; the request."""
    from daphne import http_protocol
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    made: list[Any] = []

    class Server(FakeDaphneServer):
        request_buffer_size = 8192
        server_name = b"Daphne"

        def protocol_connected(self, protocol: Any) -> None:
            made.append(protocol)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http_protocol, "WebRequest", request_class)
        server = Server()
        channel = http_protocol.HTTPFactory(server).buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 1))
    channel.makeConnection(StringTransport())
    channel.dataReceived(b"POST /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type
                         + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert made, "daphne made no request"
    request = made[0]
    request.body_sent = server.queue.get_nowait()  # what the application receives
    return request


def test_post_bodies_reach_the_application_unparsed_by_twisted(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from daphne import http_protocol

    original = http_protocol.WebRequest
    if getattr(original, "_without_form_parsing", False):  # Django's start-up did it already
        original = original.__mro__[1]
    monkeypatch.setattr(http_protocol, "WebRequest", original)
    form = b"name=ann&token=x"
    before = _post(original, b"application/x-www-form-urlencoded", form)
    assert before.args == {b"name": [b"ann"], b"token": [b"x"]}, "Twisted parses forms by default"

    assert adapter.no_form_parsing()
    assert adapter.no_form_parsing(), "twice is harmless"
    patched = http_protocol.WebRequest
    assert patched is not original and issubclass(patched, original)
    for content_type in (b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=b",
                         b"application/json"):
        request = _post(patched, content_type, form)
        assert request.args == {}, content_type
        assert request.body_sent == {"type": "http.request", "body": form, "more_body": False}
    assert before.body_sent["body"] == form


def test_form_parsing_is_left_alone_outside_the_tested_versions(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from daphne import http_protocol

    class Request:
        def __init__(self, channel: Any, parsePOSTFormSubmission: bool = True) -> None:
            self.parse = parsePOSTFormSubmission

    module = types.SimpleNamespace(WebRequest=Request)
    monkeypatch.setattr(adapter, "_process_version_problems", lambda: ("Twisted 27.1.0",))
    assert not adapter.no_form_parsing(module)
    assert module.WebRequest is Request
    monkeypatch.undo()
    monkeypatch.setattr(http_protocol, "WebRequest", http_protocol.WebRequest)

    class OldTwisted:  # a Request without the flag (Twisted before 22.10)
        def __init__(self, channel: Any) -> None:
            pass

    old = types.SimpleNamespace(WebRequest=OldTwisted)
    assert not adapter.no_form_parsing(old)
    assert old.WebRequest is OldTwisted
    assert not adapter.no_form_parsing(types.SimpleNamespace())
    assert adapter.no_form_parsing(module)
    assert module.WebRequest(None).parse is False


def test_start_up_patches_warn_when_one_falls_back_under_daphne(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import autobahn.websocket.protocol as autobahn_protocol
    from daphne import http_protocol

    # Both modules are loaded (as under daphne); keep whatever the patches do undone after.
    monkeypatch.setattr(autobahn_protocol, "pformat", vars(autobahn_protocol)["pformat"])
    monkeypatch.setattr(http_protocol, "WebRequest", http_protocol.WebRequest)
    caplog.set_level(logging.WARNING, logger=adapter.__name__)
    assert adapter.start_up_patches() == {"lazy_config_dump": True, "no_form_parsing": True}
    assert not [r for r in caplog.records if "not in effect" in r.getMessage()]

    # Outside the tested versions neither applies, and each fallback is logged.
    if getattr(http_protocol.WebRequest, "_without_form_parsing", False):
        monkeypatch.setattr(http_protocol, "WebRequest", http_protocol.WebRequest.__mro__[1])
    monkeypatch.setattr(autobahn_protocol, "pformat", pprint.pformat)
    monkeypatch.setattr(adapter, "_process_version_problems", lambda: ("Twisted 27.1.0",))
    assert adapter.start_up_patches() == {"lazy_config_dump": False, "no_form_parsing": False}
    warned = [r.getMessage() for r in caplog.records if "not in effect" in r.getMessage()]
    assert len(warned) == 2, warned
    assert any("lazy_config_dump" in w for w in warned)
    assert any("no_form_parsing" in w for w in warned)
