"""Sans-I/O WebSocket frame codec, server side (RFC 6455 §5).

`FrameDecoder` is fed the bytes a client sent, in chunks of any size, and
returns events: whole data messages (fragments reassembled, text decoded),
pings, pongs, the client's close, or a protocol error carrying the close
code to fail the connection with. It never reads a socket, keeps no timers
and writes nothing: what to answer (a pong, a close frame) is the caller's
decision, built with `encode_frame` / `encode_close`.

Only what a server without negotiated extensions receives is accepted: every
client frame must be masked and no RSV bit may be set (no permessage-deflate).
"""

from __future__ import annotations

import codecs
import enum
from dataclasses import dataclass

from gameserver.net.closecodes import CloseCode

__all__ = [
    "Close",
    "CloseCode",
    "DecoderState",
    "Event",
    "FrameDecoder",
    "Message",
    "Opcode",
    "Ping",
    "Pong",
    "ProtocolError",
    "encode_close",
    "encode_frame",
    "is_valid_close_code",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2); every other value is reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


# The codes a close frame may carry: the defined ones in 1000–2999 except
# those reserved for reporting locally (1004, 1005, 1006, 1015), then the
# registered (3000–3999) and private (4000–4999) ranges. 1016–2999 are
# reserved for future protocol use and are a protocol error today.
_WIRE_CLOSE_CODES = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)


def is_valid_close_code(code: int) -> bool:
    """Whether `code` may appear in a close frame (RFC 6455 §7.4)."""
    return code in _WIRE_CLOSE_CODES or 3000 <= code <= 4999


@dataclass(slots=True)
class Message:
    """A whole data message: `str` for `Opcode.TEXT`, `bytes` for `Opcode.BINARY`."""

    opcode: Opcode
    payload: bytes | str


@dataclass(slots=True)
class Ping:
    """A ping control frame; RFC 6455 §5.5.2 asks for a pong with the same payload."""

    payload: bytes


@dataclass(slots=True)
class Pong:
    """A pong control frame (solicited or not)."""

    payload: bytes


@dataclass(slots=True)
class Close:
    """The client's close frame. `code` is 1005 (`NO_STATUS_RECEIVED`) when it had no body."""

    code: int
    reason: str


@dataclass(slots=True)
class ProtocolError:
    """The client broke the protocol: fail the connection with `close_code`.

    `close_code` is 1002 (framing), 1007 (invalid UTF-8) or 1009 (message too
    big); `reason` is a short description for logs (it fits a close frame).
    """

    close_code: int
    reason: str


Event = Message | Ping | Pong | Close | ProtocolError
"""What `FrameDecoder.feed` returns. Events are plain records: read, don't modify.

They are not frozen dataclasses on purpose: a frozen dataclass's __init__
sets each field through object.__setattr__, which measured as a fifth of
the decoder's time per small frame.
"""


class DecoderState(enum.Enum):
    """Where a `FrameDecoder` is: reading frames, or done for good."""

    OPEN = "open"
    CLOSED = "closed"  # the client's close frame was read
    FAILED = "failed"  # a ProtocolError was reported


_OPEN = DecoderState.OPEN
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class FrameDecoder:
    """Turns the bytes a client sends into events; one instance per connection.

    `feed(data)` takes the next bytes in any chunking (one byte at a time or
    many frames at once) and returns the events they complete, in order:

    * `Message` for every complete data message. Fragmented messages are
      reassembled; text is decoded as UTF-8 incrementally, so a character
      split across fragments is fine and invalid UTF-8 is reported as soon as
      the fragment holding it arrives.
    * `Ping` / `Pong` for control frames, at once, even between the fragments
      of a data message.
    * `Close` for the client's close frame. The decoder is then `CLOSED`: a
      partially received message is dropped and further input is discarded
      (RFC 6455 §1.4). Answering with a close frame is the caller's job.
    * `ProtocolError` when the client broke the protocol; it is always the
      last event. The decoder is then `FAILED`: buffered and further input is
      discarded and `feed` returns `[]` — it never raises for bad input.

    A message whose total size across fragments exceeds `max_message_bytes`
    fails with 1009 as soon as the frame header that crosses the limit
    arrives, before its payload is buffered. Memory held is therefore bounded
    by `max_message_bytes` plus one `feed` chunk.
    """

    def __init__(self, max_message_bytes: int) -> None:
        if max_message_bytes < 0:
            raise ValueError(f"max_message_bytes must be >= 0, got {max_message_bytes}")
        self.max_message_bytes = max_message_bytes
        self._state = _OPEN
        self._buffer = bytearray()
        # The fragmented message being received: its opcode (None between
        # messages), byte count so far, payload parts, and for text the
        # incremental decoder (parts are then decoded str pieces).
        self._fragment_opcode: Opcode | None = None
        self._fragment_size = 0
        self._fragments: list[bytes] = []
        self._text_fragments: list[str] = []
        self._utf8: codecs.IncrementalDecoder | None = None

    @property
    def state(self) -> DecoderState:
        return self._state

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet part of an event (a partial frame)."""
        return len(self._buffer)

    def _fail(self, close_code: int, reason: str) -> ProtocolError:
        self._state = DecoderState.FAILED
        self._buffer = bytearray()
        self._end_message()
        return ProtocolError(close_code, reason)

    def _end_message(self) -> None:
        self._fragment_opcode = None
        self._fragment_size = 0
        self._fragments = []
        self._text_fragments = []
        self._utf8 = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Take the next bytes from the client; return the events they complete."""
        if self._state is not _OPEN:
            return []
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        max_bytes = self.max_message_bytes
        events: list[Event] = []
        pos = 0
        # One frame per iteration; `pos` is where the frame starts. Nothing is
        # sliced off the buffer until the loop ends, so many small frames in
        # one chunk cost one copy each, not one copy of the rest each.
        while size - pos >= 2:
            first = buffer[pos]
            second = buffer[pos + 1]
            if first & 0x70:
                # No extension is negotiated, so no RSV bit has a meaning (§5.2).
                events.append(self._fail(1002, "reserved bits set"))
                return events
            if not second & 0x80:
                events.append(self._fail(1002, "client frame not masked"))  # §5.1
                return events
            opcode = first & 0x0F
            length = second & 0x7F
            if length < 126:
                header = 6
            elif length == 126:
                if size - pos < 4:
                    break
                length = (buffer[pos + 2] << 8) | buffer[pos + 3]
                header = 8
                if length < 126:
                    # §5.2: "the minimal number of bytes MUST be used to encode
                    # the length"; autobahn (daphne's parser) enforces it too.
                    events.append(self._fail(1002, "length not minimally encoded"))
                    return events
            else:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                header = 14
                if length >> 63:
                    # §5.2: "the most significant bit MUST be 0".
                    events.append(self._fail(1002, "64-bit length with the high bit set"))
                    return events
                if length < 0x10000:
                    events.append(self._fail(1002, "length not minimally encoded"))
                    return events

            if opcode >= 8:
                if opcode > 10:
                    events.append(self._fail(1002, f"reserved opcode {opcode:#x}"))
                    return events
                if length > 125:
                    events.append(self._fail(1002, "control frame longer than 125 bytes"))
                    return events
                if not first & 0x80:
                    events.append(self._fail(1002, "fragmented control frame"))
                    return events
            else:
                if opcode > 2:
                    events.append(self._fail(1002, f"reserved opcode {opcode:#x}"))
                    return events
                if opcode == 0:
                    if self._fragment_opcode is None:
                        events.append(self._fail(1002, "continuation frame without a message"))
                        return events
                    total = self._fragment_size + length
                elif self._fragment_opcode is not None:
                    events.append(self._fail(1002, "new message inside a fragmented message"))
                    return events
                else:
                    total = length
                if total > max_bytes:
                    # From the header alone: the payload is never buffered.
                    events.append(self._fail(1009, f"message over {max_bytes} bytes"))
                    return events

            end = pos + header + length
            if end > size:
                break  # wait for the rest of the frame
            if length:
                start = pos + header
                # Unmask (§5.3) as one big-integer XOR: a few C calls per
                # frame instead of a Python loop over its bytes.
                mask = (buffer[start - 4 : start] * ((length >> 2) + 1))[:length]
                payload = (
                    int.from_bytes(buffer[start:end], "big") ^ int.from_bytes(mask, "big")
                ).to_bytes(length, "big")
            else:
                payload = b""
            pos = end

            if 0 < opcode < 8 and first & 0x80 and self._fragment_opcode is None:
                # The hot path: a whole, unfragmented data message.
                if opcode == 2:
                    events.append(Message(_BINARY, payload))
                    continue
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError as exc:
                    events.append(
                        self._fail(1007, f"invalid UTF-8 in a text message: {exc.reason}")
                    )
                    return events
                events.append(Message(_TEXT, text))
                continue

            if opcode < 8:
                error = self._fragment(opcode, payload, bool(first & 0x80), events)
                if error is not None:
                    events.append(error)
                    return events
            elif opcode == 9:
                events.append(Ping(payload))
            elif opcode == 10:
                events.append(Pong(payload))
            else:
                events.append(self._close(payload))
                if self._state is not _OPEN:
                    return events

        if pos:
            del buffer[:pos]
        return events

    def _fragment(
        self, opcode: int, payload: bytes, fin: bool, events: list[Event]
    ) -> ProtocolError | None:
        """One frame of a fragmented message (the header checks are done)."""
        if opcode:  # the first fragment
            self._fragment_opcode = Opcode(opcode)
            if opcode == 1:
                self._utf8 = _Utf8Decoder()
        self._fragment_size += len(payload)
        utf8 = self._utf8
        if utf8 is not None:
            try:
                piece = utf8.decode(payload, fin)
            except UnicodeDecodeError as exc:
                return self._fail(1007, f"invalid UTF-8 in a text message: {exc.reason}")
            if piece:  # empty fragments must not grow the list without bound
                self._text_fragments.append(piece)
        elif payload:
            self._fragments.append(payload)
        if fin:
            if utf8 is not None:
                events.append(Message(_TEXT, "".join(self._text_fragments)))
            else:
                events.append(Message(_BINARY, b"".join(self._fragments)))
            self._end_message()
        return None

    def _close(self, payload: bytes) -> Close | ProtocolError:
        """The client's close frame (§5.5.1): ends the decoder either way."""
        if not payload:
            close = Close(CloseCode.NO_STATUS_RECEIVED, "")
        elif len(payload) == 1:
            return self._fail(1002, "close frame body of 1 byte")
        else:
            code = (payload[0] << 8) | payload[1]
            # The reason is decoded before the code is checked, as websockets
            # does, so a frame bad in both ways gets the same close code there.
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                return self._fail(1007, "invalid UTF-8 in the close reason")
            if not is_valid_close_code(code):
                return self._fail(1002, f"invalid close code {code}")
            close = Close(code, reason)
        self._state = DecoderState.CLOSED
        self._buffer = bytearray()
        self._end_message()
        return close


def encode_frame(
    opcode: Opcode | int, payload: bytes | bytearray | memoryview | str = b"", fin: bool = True
) -> bytes:
    """One unmasked frame as a server sends it (§5.2); `str` payloads are UTF-8 encoded.

    Raises ValueError for a reserved opcode, or a control frame that is
    fragmented or longer than 125 bytes.
    """
    if opcode not in _OPCODES:
        raise ValueError(f"reserved opcode {opcode!r}")
    data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    size = len(data)
    if opcode >= 8 and (size > 125 or not fin):
        raise ValueError("control frames are unfragmented and at most 125 bytes")
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        header = bytes((first, size))
    elif size < 0x10000:
        header = bytes((first, 126, size >> 8, size & 0xFF))
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + data


_OPCODES = frozenset(int(op) for op in Opcode)


def encode_close(code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
    """A close frame (§5.5.1) with `code` and `reason`, or without a body when `code` is None.

    Raises ValueError for a code that may not be sent (1005, 1006, 1015, …),
    a reason without a code, or a reason over 123 bytes of UTF-8.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return encode_frame(Opcode.CLOSE)
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    body = code.to_bytes(2, "big") + reason.encode("utf-8")
    if len(body) > 125:
        raise ValueError("close reason longer than 123 bytes")
    return encode_frame(Opcode.CLOSE, body)
