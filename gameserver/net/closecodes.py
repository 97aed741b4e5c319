"""Every WebSocket close code the server sends or reports: the one table.

RFC 6455 §7.4.1 and the IANA registry for 1000–1015; the application's own
codes in the private range 4000–4999 (their meaning for clients is in
docs/protocol.md, "Close codes"). Everything that closes a socket names its
code from here.
"""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    """Close codes: the protocol's, then the application's (4000–4999)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005  # never on the wire: a close frame without a code
    ABNORMAL_CLOSURE = 1006  # never on the wire: the TCP connection ended without a close
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014

    UNAUTHENTICATED = 4001
    """No valid session or token; the `error` frame before it says why."""
    FORBIDDEN = 4003
    """Room full, or private without the invite."""
    ROOM_GONE = 4004
    """The room was closed (idle, by staff, or its engine died with its process)."""
    FLOOD = 4008
    """More frames per second than the socket's limit."""
    SLOW_CLIENT = 4009
    """The client stopped reading: more than OUTBOUND_BUFFER_BYTES queued for it."""
    REPLACED = 4010
    """A newer socket of the same player in the same room took over."""
    KICKED = 4011
    """Staff took the player out of the match."""
