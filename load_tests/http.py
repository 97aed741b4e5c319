"""A tiny async HTTP/1.1 client over asyncio streams (no dependency).

One request per connection (``Connection: close``); understands
``Content-Length``, chunked transfer encoding and read-to-EOF bodies; ``https``
URLs use the default TLS context. Enough for the handful of JSON calls the bots
make (guest session, matchmaking, chat history, /metrics).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_BODY = 16 * 1024 * 1024


class HttpError(Exception):
    """The server answered something that is not HTTP/1.x."""


class NoResponse(HttpError):
    """The server closed the connection without answering (e.g. a bare WebSocket server)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> Response:
    """Send one request and return the whole response.

    Raises ``OSError`` (connection), ``TimeoutError`` (``timeout`` seconds for
    the whole exchange) or :class:`HttpError` (malformed answer).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = b"" if json_body is None else json.dumps(json_body).encode()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}", "Connection: close",
             "Accept: application/json, text/plain, */*", "User-Agent: arena-load-tests"]
    if json_body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    elif method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(
            parts.hostname, port, ssl=ssl.create_default_context() if tls else None
        )
        try:
            writer.write(head + body)
            await writer.drain()
            return await _read_response(reader, method)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def _read_response(reader: asyncio.StreamReader, method: str) -> Response:
    status_line = await reader.readline()
    if not status_line:
        raise NoResponse("connection closed before a status line")
    parts = status_line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"bad status line {status_line!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        size = 0
        while True:
            size_line = await reader.readline()
            n = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if n == 0:
                # trailers until the blank line
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            size += n
            if size > MAX_BODY:
                raise HttpError("body too large")
            chunks.append(await reader.readexactly(n))
            await reader.readline()
        return Response(status, headers, b"".join(chunks))
    if "content-length" in headers:
        n = int(headers["content-length"])
        if n > MAX_BODY:
            raise HttpError("body too large")
        return Response(status, headers, await reader.readexactly(n))
    return Response(status, headers, await reader.read(MAX_BODY))
