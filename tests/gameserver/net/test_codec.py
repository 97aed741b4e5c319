"""The sans-I/O frame codec against RFC 6455, with `websockets` as the oracle.

Client bytes come from `websockets`' own client protocol (correct masking and
fragmentation) or, for frames it refuses to build, from `raw_frame` below.
The same bytes go to a `websockets` server protocol in the OPEN state; its
frames, reassembled and UTF-8 decoded the way its connection layer does, are
the expected events, and the close code it fails with is the expected one.
Where this codec deliberately differs, the test says why.
"""

from __future__ import annotations

import codecs
import random
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close as WsClose
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from gameserver.net.codec import (
    Close,
    DecoderState,
    Event,
    FrameDecoder,
    Message,
    Ping,
    Pong,
    ProtocolError,
    encode_close,
    encode_frame,
    is_valid_close_code,
)
from gameserver.net.codec import Opcode as OurOpcode

BIG = 1 << 20
KEY = b"\x37\xfa\x21\x3d"

Normal = tuple[object, ...]


# --- helpers -----------------------------------------------------------------


def raw_frame(
    first: int,
    payload: bytes = b"",
    *,
    masked: bool = True,
    length_bytes: int | None = None,
    length: int | None = None,
) -> bytes:
    """Any frame, valid or not: `first` is the FIN/RSV/opcode byte.

    `length_bytes` forces the length encoding (0 = 7-bit, 2, 8), `length`
    overrides the announced length.
    """
    size = len(payload) if length is None else length
    if length_bytes is None:
        length_bytes = 0 if size < 126 else 2 if size < 0x10000 else 8
    mask_bit = 0x80 if masked else 0
    if length_bytes == 0:
        header = bytes((first, mask_bit | size))
    elif length_bytes == 2:
        header = bytes((first, mask_bit | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + size.to_bytes(8, "big")
    if not masked:
        return header + payload
    body = bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return header + KEY + body


def client() -> Protocol:
    return Protocol(Side.CLIENT, state=State.OPEN, max_size=None)


def sent(protocol: Protocol) -> bytes:
    return b"".join(protocol.data_to_send())


def normal(events: Iterable[Event]) -> list[Normal]:
    """Events as comparable tuples; a protocol error compares by close code only."""
    out: list[Normal] = []
    for event in events:
        if isinstance(event, Message):
            kind = "text" if event.opcode == OurOpcode.TEXT else "binary"
            assert isinstance(event.payload, str if kind == "text" else bytes)
            out.append((kind, event.payload))
        elif isinstance(event, Ping):
            out.append(("ping", event.payload))
        elif isinstance(event, Pong):
            out.append(("pong", event.payload))
        elif isinstance(event, Close):
            out.append(("close", event.code, event.reason))
        else:
            out.append(("error", event.close_code))
    return out


def ours(chunks: Iterable[bytes], max_size: int = BIG) -> list[Normal]:
    decoder = FrameDecoder(max_size)
    events: list[Event] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return normal(events)


def oracle(chunks: Iterable[bytes], max_size: int | None = BIG) -> list[Normal]:
    """What a `websockets` server makes of the same bytes, as our events.

    Its sans-I/O layer yields frames; messages are reassembled and text is
    decoded incrementally per fragment, as its connection layer does (an
    invalid sequence there fails the connection with 1007).
    """
    server = Protocol(Side.SERVER, state=State.OPEN, max_size=max_size)
    out: list[Normal] = []
    parts: list[bytes | str] = []
    decoder: codecs.IncrementalDecoder | None = None
    for chunk in chunks:
        server.receive_data(chunk)
        for frame in server.events_received():
            assert isinstance(frame, Frame)
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                parts = []
                decoder = (
                    codecs.getincrementaldecoder("utf-8")() if frame.opcode is Opcode.TEXT else None
                )
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                if decoder is not None:
                    try:
                        parts.append(decoder.decode(bytes(frame.data), frame.fin))
                    except UnicodeDecodeError:
                        out.append(("error", 1007))
                        return out
                else:
                    parts.append(bytes(frame.data))
                if frame.fin:
                    if decoder is not None:
                        out.append(("text", "".join(str(p) for p in parts)))
                    else:
                        out.append(("binary", b"".join(bytes(p) for p in parts)))  # type: ignore[arg-type]
            elif frame.opcode is Opcode.PING:
                out.append(("ping", bytes(frame.data)))
            elif frame.opcode is Opcode.PONG:
                out.append(("pong", bytes(frame.data)))
            else:
                close = WsClose.parse(frame.data)
                out.append(("close", int(close.code), close.reason))
                return out
        if server.parser_exc is not None:
            assert server.close_sent is not None
            out.append(("error", int(server.close_sent.code)))
            return out
    return out


def both(data: bytes, max_size: int = BIG) -> tuple[list[Normal], list[Normal]]:
    return ours([data], max_size), oracle([data], max_size)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# --- valid traffic -------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
@pytest.mark.parametrize("text", [False, True])
def test_single_frame_messages_of_every_length_encoding(size: int, text: bool) -> None:
    c = client()
    if text:
        c.send_text(("é" * (size // 2) + "a" * (size % 2)).encode())
    else:
        c.send_binary(bytes(i % 251 for i in range(size)))
    data = sent(c)
    mine, theirs = both(data)
    assert mine == theirs
    assert len(mine) == 1 and mine[0][0] == ("text" if text else "binary")


def test_64_bit_length_message_split_anywhere() -> None:
    c = client()
    payload = bytes(range(256)) * 273 + b"xyz"  # 69,891 bytes: 64-bit length
    c.send_binary(payload)
    data = sent(c)
    assert data[1] & 0x7F == 127
    rng = random.Random(5)
    cuts = sorted({*rng.sample(range(1, len(data)), 40), 2, 5, 9, 10, 13, 14})
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert ours(chunks, max_size=100_000) == [("binary", payload)]
    assert oracle([data], max_size=100_000) == [("binary", payload)]


def test_fragmented_messages_and_control_frames_between_fragments() -> None:
    c = client()
    c.send_binary(b"ab", fin=False)
    c.send_ping(b"are you there")
    c.send_continuation(b"", fin=False)
    c.send_pong(b"")
    c.send_continuation(b"cd", fin=True)
    c.send_text("x€".encode()[:2], fin=False)  # the euro sign split between fragments
    c.send_continuation("x€".encode()[2:], fin=True)
    c.send_text(b"", fin=False)
    c.send_continuation(b"", fin=True)
    data = sent(c)
    expected = [
        ("ping", b"are you there"),
        ("pong", b""),
        ("binary", b"abcd"),
        ("text", "x€"),
        ("text", ""),
    ]
    assert ours([data]) == expected
    assert ours(bytewise(data)) == expected
    assert oracle([data]) == expected


def test_control_frame_between_fragments_is_reported_before_the_message_ends() -> None:
    c = client()
    c.send_text(b"hel", fin=False)
    first = sent(c)
    c.send_ping(b"1")
    ping = sent(c)
    c.send_continuation(b"lo", fin=True)
    last = sent(c)
    decoder = FrameDecoder(BIG)
    assert decoder.feed(first) == []
    assert decoder.feed(ping) == [Ping(b"1")]
    assert decoder.feed(last) == [Message(OurOpcode.TEXT, "hello")]


def test_many_frames_in_one_chunk_leave_only_the_partial_frame_buffered() -> None:
    c = client()
    for i in range(1000):
        c.send_binary(i.to_bytes(4, "big") * 5)
    data = sent(c)
    decoder = FrameDecoder(BIG)
    events = decoder.feed(data + data[:7])
    assert len(events) == 1000
    assert events[-1] == Message(OurOpcode.BINARY, (999).to_bytes(4, "big") * 5)
    assert decoder.buffered_bytes == 7
    assert decoder.feed(data[7:26]) == [Message(OurOpcode.BINARY, bytes(20))]
    assert decoder.buffered_bytes == 0


# --- protocol errors (1002) ----------------------------------------------------------


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_reserved_bits_fail_with_1002(rsv: int) -> None:
    data = raw_frame(0x80 | rsv | 0x2, b"data")
    assert both(data) == ([("error", 1002)], [("error", 1002)])


def test_reserved_bits_are_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder(BIG)
    assert normal(decoder.feed(raw_frame(0xC1, b"x" * 100)[:2])) == [("error", 1002)]


def test_unmasked_client_frame_fails_with_1002() -> None:
    data = Frame(Opcode.BINARY, b"hello").serialize(mask=False)
    assert both(data) == ([("error", 1002)], [("error", 1002)])


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_fail_with_1002(opcode: int) -> None:
    data = raw_frame(0x80 | opcode, b"x")
    assert both(data) == ([("error", 1002)], [("error", 1002)])


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_control_frames_over_125_bytes_fail_with_1002(opcode: int) -> None:
    data = raw_frame(0x80 | opcode, b"\x03\xe8" + b"x" * 124)
    assert both(data) == ([("error", 1002)], [("error", 1002)])


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_fragmented_control_frames_fail_with_1002(opcode: int) -> None:
    data = raw_frame(opcode, b"")
    assert both(data) == ([("error", 1002)], [("error", 1002)])


def test_continuation_without_a_message_fails_with_1002() -> None:
    data = raw_frame(0x80, b"orphan")
    assert both(data) == ([("error", 1002)], [("error", 1002)])


@pytest.mark.parametrize("second", [0x81, 0x82, 0x01])
def test_new_data_frame_inside_a_fragmented_message_fails_with_1002(second: int) -> None:
    data = raw_frame(0x02, b"start") + raw_frame(second, b"again")
    assert both(data) == ([("error", 1002)], [("error", 1002)])


@pytest.mark.parametrize(("size", "length_bytes"), [(0, 2), (125, 2), (126, 8), (65535, 8)])
def test_non_minimal_length_encoding_fails_with_1002(size: int, length_bytes: int) -> None:
    data = raw_frame(0x82, b"y" * size, length_bytes=length_bytes)
    # RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the
    # length". websockets accepts such frames; autobahn (daphne's parser
    # today) refuses them, and so do we.
    assert ours([data]) == [("error", 1002)]
    assert oracle([data]) == [("binary", b"y" * size)]


def test_64_bit_length_with_the_high_bit_set_fails_with_1002() -> None:
    data = raw_frame(0x82, length=(1 << 63) + 5, length_bytes=8)
    # RFC 6455 §5.2: "the most significant bit MUST be 0": a malformed
    # header, so 1002; websockets only sees a frame over its size limit.
    assert ours([data]) == [("error", 1002)]
    assert oracle([data]) == [("error", 1009)]


# --- sizes (1009) ---------------------------------------------------------------------


def test_message_at_the_limit_passes_and_one_byte_more_fails_with_1009() -> None:
    for size, expected in ((300, [("binary", b"z" * 300)]), (301, [("error", 1009)])):
        c = client()
        c.send_binary(b"z" * size)
        assert both(sent(c), max_size=300) == (expected, expected)


def test_oversize_is_detected_from_the_header_before_the_payload() -> None:
    c = client()
    c.send_binary(b"q" * 70_000)
    data = sent(c)
    decoder = FrameDecoder(65_536)
    assert normal(decoder.feed(data[:10])) == [("error", 1009)]  # header only, no mask key
    assert decoder.state is DecoderState.FAILED
    assert decoder.buffered_bytes == 0
    assert oracle([data[:10]], max_size=65_536) == [("error", 1009)]


def test_oversize_across_fragments_fails_with_1009_at_the_crossing_header() -> None:
    c = client()
    c.send_text(b"a" * 60, fin=False)
    c.send_continuation(b"b" * 40, fin=False)
    head = sent(c)
    c.send_continuation(b"c" * 1, fin=True)  # 101 > 100
    last = sent(c)
    decoder = FrameDecoder(100)
    assert decoder.feed(head) == []
    assert normal(decoder.feed(last[:2])) == [("error", 1009)]
    assert oracle([head + last], max_size=100) == [("error", 1009)]


def test_control_frames_do_not_count_against_the_message_limit() -> None:
    c = client()
    c.send_binary(b"a" * 90, fin=False)
    c.send_ping(b"p" * 20)
    c.send_continuation(b"b" * 10, fin=True)
    data = sent(c)
    assert ours([data], max_size=100) == [("ping", b"p" * 20), ("binary", b"a" * 90 + b"b" * 10)]
    # websockets counts the ping's 20 bytes into the message in progress and
    # fails with 1009. The limit bounds a message (RFC 6455 §5.4: control
    # frames are not part of it; they are capped at 125 bytes anyway).
    assert oracle([data], max_size=100) == [("error", 1009)]


# --- UTF-8 (1007) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"abc\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"ok\x80"],
    ids=["ff", "truncated", "surrogate", "overlong", "above-10ffff", "lone-continuation"],
)
def test_invalid_utf8_text_fails_with_1007(payload: bytes) -> None:
    data = raw_frame(0x81, payload)
    assert both(data) == ([("error", 1007)], [("error", 1007)])


def test_invalid_utf8_is_reported_at_the_fragment_holding_it() -> None:
    decoder = FrameDecoder(BIG)
    assert decoder.feed(raw_frame(0x01, b"fine")) == []
    assert normal(decoder.feed(raw_frame(0x00, b"\xfe"))) == [("error", 1007)]


def test_utf8_incomplete_at_the_end_of_the_message_fails_with_1007() -> None:
    data = raw_frame(0x01, b"\xe2\x82") + raw_frame(0x80, b"")
    assert both(data) == ([("error", 1007)], [("error", 1007)])


def test_utf8_split_at_every_byte_across_fragments_is_valid() -> None:
    encoded = "aé€😀".encode()
    data = raw_frame(0x01, encoded[:1])
    for i in range(1, len(encoded) - 1):
        data += raw_frame(0x00, encoded[i : i + 1])
    data += raw_frame(0x80, encoded[-1:])
    assert both(data) == ([("text", "aé€😀")], [("text", "aé€😀")])


def test_binary_messages_are_not_utf8_checked() -> None:
    data = raw_frame(0x82, b"\xff\xfe")
    assert both(data) == ([("binary", b"\xff\xfe")], [("binary", b"\xff\xfe")])


# --- close frames ---------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999])
def test_close_with_code_and_reason(code: int) -> None:
    c = client()
    c.send_close(code, "bye ✓")
    assert both(sent(c)) == ([("close", code, "bye ✓")], [("close", code, "bye ✓")])


def test_empty_close_reports_1005() -> None:
    c = client()
    c.send_close()
    assert both(sent(c)) == ([("close", 1005, "")], [("close", 1005, "")])


def test_close_body_of_one_byte_fails_with_1002() -> None:
    data = raw_frame(0x88, b"\x03")
    assert both(data) == ([("error", 1002)], [("error", 1002)])


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_code_fails_with_1002(code: int) -> None:
    data = raw_frame(0x88, code.to_bytes(2, "big") + b"why")
    assert not is_valid_close_code(code)
    assert both(data) == ([("error", 1002)], [("error", 1002)])


def test_invalid_utf8_close_reason_fails_with_1007() -> None:
    data = raw_frame(0x88, b"\x03\xe8bad \xff")
    assert both(data) == ([("error", 1007)], [("error", 1007)])


def test_input_after_close_is_discarded() -> None:
    c = client()
    c.send_close(1001, "")
    data = sent(c) + raw_frame(0x82, b"late") + raw_frame(0xF0, b"garbage")
    decoder = FrameDecoder(BIG)
    assert decoder.feed(data) == [Close(1001, "")]
    assert decoder.state is DecoderState.CLOSED
    assert decoder.feed(raw_frame(0x82, b"later")) == []
    assert decoder.buffered_bytes == 0


def test_close_between_fragments_ends_the_stream() -> None:
    data = raw_frame(0x02, b"part") + raw_frame(0x88, b"\x03\xe8")
    # RFC 6455 §5.4 lets control frames, close included, arrive between the
    # fragments of a message: the client's close is reported and the partial
    # message dropped. websockets fails such a connection with 1002.
    assert ours([data]) == [("close", 1000, "")]
    assert oracle([data]) == [("error", 1002)]


# --- a failed decoder stays failed -----------------------------------------------------


def test_failed_decoder_ignores_further_input() -> None:
    decoder = FrameDecoder(BIG)
    events = decoder.feed(raw_frame(0x82, b"ok") + raw_frame(0x83, b"") + raw_frame(0x82, b"no"))
    assert normal(events) == [("binary", b"ok"), ("error", 1002)]
    assert isinstance(events[-1], ProtocolError) and events[-1].reason
    assert decoder.state is DecoderState.FAILED
    assert decoder.feed(raw_frame(0x82, b"valid")) == []
    assert decoder.feed(b"\x00" * 100) == []
    assert decoder.buffered_bytes == 0


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(-1)


# --- the encoder ---------------------------------------------------------------------


def client_reads(data: bytes) -> list[Frame]:
    reader = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    reader.receive_data(data)
    assert reader.parser_exc is None
    return [f for f in reader.events_received() if isinstance(f, Frame)]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_encoded_frames_parse_in_a_client(size: int) -> None:
    payload = bytes(i % 256 for i in range(size))
    (frame,) = client_reads(encode_frame(OurOpcode.BINARY, payload))
    assert (frame.opcode, frame.data, frame.fin) == (Opcode.BINARY, payload, True)
    text = encode_frame(OurOpcode.TEXT, "a€", fin=False)
    frames = client_reads(text + encode_frame(OurOpcode.CONTINUATION, b"!"))
    assert [(f.opcode, bytes(f.data), f.fin) for f in frames] == [
        (Opcode.TEXT, "a€".encode(), False),
        (Opcode.CONT, b"!", True),
    ]


def test_encoded_control_and_close_frames_parse_in_a_client() -> None:
    data = (
        encode_frame(OurOpcode.PING, b"p")
        + encode_frame(OurOpcode.PONG, b"q" * 125)
        + encode_close(1012, "restart ✓")
    )
    ping, pong, close = client_reads(data)
    assert (ping.opcode, ping.data) == (Opcode.PING, b"p")
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"q" * 125)
    assert WsClose.parse(close.data) == WsClose(1012, "restart ✓")
    (empty,) = client_reads(encode_close(None))
    assert (empty.opcode, empty.data) == (Opcode.CLOSE, b"")


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_frame(3, b""),
        lambda: encode_frame(OurOpcode.PING, b"x" * 126),
        lambda: encode_frame(OurOpcode.PONG, b"", fin=False),
        lambda: encode_close(1005),
        lambda: encode_close(1006),
        lambda: encode_close(999),
        lambda: encode_close(None, "reason without code"),
        lambda: encode_close(1000, "x" * 124),
    ],
)
def test_encoder_refuses_what_may_not_be_sent(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_encode_close_reason_of_123_bytes_fits() -> None:
    (close,) = client_reads(encode_close(4000, "r" * 123))
    assert WsClose.parse(close.data) == WsClose(4000, "r" * 123)


# --- properties --------------------------------------------------------------------------

control_frames = st.tuples(st.sampled_from(["ping", "pong"]), st.binary(max_size=125))
payloads = st.one_of(
    st.tuples(st.just("text"), st.text(max_size=200)),
    st.tuples(st.just("binary"), st.binary(max_size=200)),
    st.tuples(st.just("binary"), st.binary(min_size=126, max_size=400)),
)


@st.composite
def traffic(draw: st.DrawFn) -> tuple[bytes, list[Normal]]:
    """A valid client byte stream (from the websockets client) and its events."""
    c = client()
    expected: list[Normal] = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            kind, payload = draw(control_frames)
            (c.send_ping if kind == "ping" else c.send_pong)(payload)
            expected.append((kind, payload))
            continue
        kind, value = draw(payloads)
        data = value.encode() if isinstance(value, str) else value
        # Cut anywhere, also inside a UTF-8 sequence; empty fragments allowed.
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
        fragments = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        send = c.send_text if kind == "text" else c.send_binary
        send(fragments[0], fin=len(fragments) == 1)
        for i, fragment in enumerate(fragments[1:], start=2):
            for ctrl, ctrl_payload in draw(st.lists(control_frames, max_size=2)):
                (c.send_ping if ctrl == "ping" else c.send_pong)(ctrl_payload)
                expected.append((ctrl, ctrl_payload))
            c.send_continuation(fragment, fin=i == len(fragments))
        expected.append((kind, value))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1008, 1011, 3000, 4321]))
        reason = draw(st.text(max_size=20))
        c.send_close(code, reason)
        expected.append(("close", code, reason))
    return sent(c), expected


@settings(max_examples=200, deadline=None)
@given(traffic())
def test_valid_traffic_fed_one_byte_at_a_time_matches_the_oracle(
    stream: tuple[bytes, list[Normal]],
) -> None:
    data, expected = stream
    assert oracle([data]) == expected
    assert ours(bytewise(data)) == expected
    assert ours([data]) == expected


@settings(max_examples=200, deadline=None)
@given(traffic(), st.lists(st.integers(1, 200), min_size=1, max_size=30))
def test_valid_traffic_split_anywhere_matches_the_oracle(
    stream: tuple[bytes, list[Normal]], sizes: list[int]
) -> None:
    data, expected = stream
    chunks = split(data, sizes)
    assert oracle(chunks) == expected
    assert ours(chunks) == expected


def split(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        chunks.append(data[pos : pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    return chunks


@settings(max_examples=200, deadline=None)
@given(
    traffic(),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
    st.lists(st.integers(1, 50), min_size=1, max_size=10),
)
def test_corrupted_traffic_never_raises_and_agrees_with_the_oracle(
    stream: tuple[bytes, list[Normal]], flips: list[tuple[int, int]], sizes: list[int]
) -> None:
    data = bytearray(stream[0])
    if not data:
        data = bytearray(raw_frame(0x82, b"seed"))
    for where, xor in flips:
        data[where % len(data)] ^= xor
    whole = ours([bytes(data)], max_size=4096)
    # A protocol error's reason fits the close frame that reports it.
    last = FrameDecoder(4096).feed(bytes(data))[-1:]
    if last and isinstance(last[0], ProtocolError):
        assert encode_close(last[0].close_code, last[0].reason)
    # Chunking never changes the outcome.
    assert ours(split(bytes(data), sizes), max_size=4096) == whole
    assert ours(bytewise(bytes(data)), max_size=4096) == whole
    # Nothing follows an error or a close.
    for event in whole[:-1]:
        assert event[0] not in ("error", "close")
    theirs = oracle([bytes(data)], max_size=4096)
    # Every message both decoders delivered is the same message.
    delivered = min(len(whole), len(theirs)) - 1
    assert whole[:delivered] == theirs[:delivered]
    if not any(e[0] == "error" for e in whole + theirs):
        assert whole == theirs
    elif whole and theirs and whole[-1][0] == "error" and theirs[-1][0] == "error":
        # Same code, except that a frame both too big and malformed is 1002
        # here (its header is checked first) and may be 1009 there.
        assert whole[-1] == theirs[-1] or {whole[-1][1], theirs[-1][1]} == {1002, 1009}
