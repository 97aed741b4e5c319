"""Structured logging: context keys on every record, secrets never written.

`settings.LOGGING` puts two filters on the console handler, so they apply to
every record that reaches it, whichever logger (ours, Django's, daphne's)
emitted it:

- `ContextFilter` guarantees the context keys `room`, `user` and `tick`
  exist on every record (None unless the call passed them with `extra=`),
  so a JSON log always has the same fields and a query by room works;
- `RedactFilter` rewrites the message (and a formatted traceback) so a
  bearer token, a `?token=` query parameter, a session cookie or a password
  field never reaches the log.

Daphne's access log (on at its default verbosity) bypasses `logging` and
writes request paths, query strings included, straight to stdout.
`install_access_log()` (called from the app's `ready()`, before daphne builds
its access logger) routes those lines through the `daphne.access` logger
instead, so they are redacted and formatted like every other record, and
name the real client behind a trusted proxy (`ClientAddressMiddleware`).
"""

from __future__ import annotations

import datetime
import logging
import re
import sys
from collections import OrderedDict
from typing import Any

from lobby import client_address

CONTEXT_KEYS = ("room", "user", "tick")

REDACTED = "[redacted]"

# key=value pairs in query strings, headers, reprs of dicts and scopes.
_SECRET_PAIR = re.compile(
    r"(?i)(?P<key>\b(?:token|invite|secret|secret_key|password|sessionid|csrftoken|"
    r"metrics_token|api_key)\b['\"]?\s*(?:=|:)\s*(?:b?['\"])?)(?P<value>[^&\s'\",;}\]]+)"
)
_BEARER = re.compile(r"(?i)(?P<key>\bbearer\s+)(?P<value>[^\s'\",;}\]]+)")
# Django signing tokens: base64 payload : timestamp : signature.
_SIGNED = re.compile(r"\b[A-Za-z0-9_-]{8,}:[A-Za-z0-9]{4,10}:[A-Za-z0-9_-]{20,}\b")


def redact(text: str) -> str:
    """`text` with every recognisable secret replaced by `[redacted]`."""
    text = _SECRET_PAIR.sub(lambda m: m.group("key") + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group("key") + REDACTED, text)
    return _SIGNED.sub(REDACTED, text)


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", *CONTEXT_KEYS}


class ContextFilter(logging.Filter):
    """Every record carries `room`, `user` and `tick` (None when not given)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key in CONTEXT_KEYS:
            if not hasattr(record, key):
                setattr(record, key, None)
        return True


class RedactFilter(logging.Filter):
    """Replace secrets in the record's message and traceback text (see `redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record as is
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        for key, value in list(record.__dict__.items()):
            # Extras such as django.request's `request` object: JSON logs render
            # their repr, which holds the full path with its query string.
            if key not in _STANDARD_ATTRS and not isinstance(value, int | float | bool | None):
                record.__dict__[key] = redact(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class TextFormatter(logging.Formatter):
    """The text format, with ` room=… user=… tick=…` appended when a record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{key}={getattr(record, key)}"
            for key in CONTEXT_KEYS
            if getattr(record, key, None) is not None
        )
        if not context:
            return line
        head, sep, rest = line.partition("\n")
        return f"{head} {context}{sep}{rest}"


access_logger = logging.getLogger("daphne.access")

MAX_REMEMBERED_CLIENTS = 4096

# Daphne writes its access log from the connection's peer ("ip:port"), which
# behind a reverse proxy is the proxy. `ClientAddressMiddleware` resolves each
# proxied connection's real client (lobby/client_address.py) when the
# application is called and notes it here under the peer's "ip:port" (unique
# per open TCP connection); the access log then names the real client. Both
# run on the server's one event-loop thread. Bounded: a connection whose end
# is never logged is forgotten oldest-first.
_proxied_clients: OrderedDict[str, str] = OrderedDict()


def remember_client(scope: dict[str, Any]) -> None:
    """Note the real client of a proxied connection for the access log."""
    peer = scope.get("client")
    if not peer:
        return
    address = client_address.for_scope(scope)
    if not address.proxied:
        return
    key = f"{peer[0]}:{peer[1]}"
    _proxied_clients[key] = address.ip
    _proxied_clients.move_to_end(key)
    while len(_proxied_clients) > MAX_REMEMBERED_CLIENTS:
        _proxied_clients.popitem(last=False)


class ClientAddressMiddleware:
    """ASGI middleware: `remember_client` for every HTTP request and WebSocket."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") in {"http", "websocket"}:
            remember_client(scope)
        return await self.app(scope, receive, send)


class AccessLogGenerator:
    """Daphne's action logger, through `logging` (so redacted and formatted).

    Same interface as `daphne.access.AccessLogGenerator`; one INFO record per
    HTTP request and WebSocket event (connected, rejected, disconnected),
    with `client`, `peer`, `status` as extra fields (JSON logs get them as
    keys). `client` is the real client (lobby/client_address.py): for a
    connection from a trusted proxy, the address the proxy forwarded; else
    the peer itself. `peer` is the TCP peer ("ip:port").
    """

    def __init__(self, stream: Any = None) -> None:
        # Daphne passes the stream it would have written to; records go to
        # `logging` instead, whose handler writes to stderr.
        self.stream = stream

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if protocol == "http" and action == "complete":
            request = f"{details.get('method')} {details.get('path')}"
            status = details.get("status")
        elif protocol == "websocket" and action in {"rejected", "connected", "disconnected"}:
            # No "connecting" line: it is written before the application has
            # seen the connection, so its client would be the proxy's.
            request = {
                "rejected": "WSREJECT", "connected": "WSCONNECT",
                "disconnected": "WSDISCONNECT",
            }[action] + f" {details.get('path')}"
            status = None
        else:
            return
        peer = details.get("client")
        client = _proxied_clients.get(peer, peer) if isinstance(peer, str) else peer
        if isinstance(peer, str) and (
            protocol == "http" or action in {"rejected", "disconnected"}
        ):
            _proxied_clients.pop(peer, None)
        access_logger.info(
            '%s "%s" %s', client, request, status if status is not None else "-",
            extra={"client": client, "peer": peer, "status": status,
                   "at": datetime.datetime.now(datetime.UTC).isoformat()},
        )


def install_access_log() -> None:
    """Make daphne's CLI build our `AccessLogGenerator` (if daphne's CLI is running).

    Daphne's `CommandLineInterface.run` imports the application (which sets
    Django up and so calls this) before it creates the access logger from the
    `daphne.cli` module's global, so replacing that global here takes effect.
    """
    cli = sys.modules.get("daphne.cli")
    if cli is not None and hasattr(cli, "AccessLogGenerator"):
        vars(cli)["AccessLogGenerator"] = AccessLogGenerator  # the module global
