"""Let applications close sockets with any RFC 6455 code under daphne.

Daphne closes a socket through autobahn's `sendClose`, which accepts only
1000 and 3000–4999 and raises on anything else, so an ASGI app under daphne
cannot send 1009 (message too big), 1011, 1012 (service restart) or 1013
(try again later): the close fails and the socket stays open. This
middleware has the daphne adapter (`gameserver.net.daphne.close_with_any_code`)
send such a close as a raw close frame instead; under other servers it
passes the message through.
"""

from __future__ import annotations

from typing import Any

# Temporary upward import: the socket middleware moves to gameserver/ with the
# lobby socket; the adapter is the one module that touches daphne's internals.
from gameserver.net.daphne import close_with_any_code


class _CloseCodeSend:
    def __init__(self, send: Any) -> None:
        self.real_send = send

    async def send(self, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.close":
            code = int(message.get("code") or 1000)
            if close_with_any_code(self.real_send, code):
                return
            # A plain int: autobahn refuses any other type, an IntEnum
            # (closecodes.CloseCode) included, and the socket would stay open.
            message = {**message, "code": code}
        await self.real_send(message)


class CloseCodeMiddleware:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await self.app(scope, receive, _CloseCodeSend(send).send)
