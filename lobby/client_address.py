"""The client address of an HTTP request or a WebSocket scope: the one authority.

Every per-IP rate limit, the `/metrics` network check and the access log ask
this module who the client is; nothing else reads `REMOTE_ADDR`,
`scope["client"]` or `X-Forwarded-For`.

The rule (`resolve`), with TRUSTED_PROXIES the operator's list of proxy
networks:

1. If the direct peer (the TCP connection's other end) is not a trusted
   proxy, the peer is the client. `X-Forwarded-For` is ignored entirely: any
   client can write that header.
2. Otherwise walk `X-Forwarded-For` from the right. Each proxy appends the
   address it received the connection from, so the right-most entries were
   written by our proxies; skip entries that are trusted proxies. The first
   untrusted entry is the client. Entries to its left were written by the
   client (or by proxies we do not know) and are never believed; in
   particular the left-most entry, which the client chooses, is never used
   unless every hop after it is a trusted proxy.
3. Conservative stops: an entry that is not a plain IP address (a port, a
   bracket, garbage, an empty entry), or more than `MAX_HOPS` trusted hops,
   ends the walk, and the client is the last trusted hop seen (the proxy
   that wrote the bad entry). A client can thus never choose its identity by
   writing entries; at worst a broken chain makes several clients share the
   address of their proxy.

Consequence for operators: a trusted proxy's address must not be a client's
address too. A client connecting from a trusted address is treated as a
proxy, so it could name any address (docs/security.md).

Daphne's own `--proxy-headers` takes the *left-most* `X-Forwarded-For`
entry from any peer, which is exactly the address a client writes; do not
use it (docs/security.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_HOPS = 32
"""At most this many trusted entries are skipped before the walk stops."""

UNKNOWN = "unknown"
"""The client address when the server does not know the peer's (e.g. a Unix socket)."""

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
"""Headers a proxy adds; their presence marks a request as having come through one."""


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """Who sent a request, as far as the server can trust.

    `ip` is the client's address (text form of an IP address, or `UNKNOWN`);
    `peer` the direct peer's; `proxied` is True when the peer is a trusted
    proxy (so `ip` came from `X-Forwarded-For`); `forwarded` is True when the
    request carried any forwarding header, trusted or not.
    """

    ip: str
    peer: str
    proxied: bool
    forwarded: bool

    @property
    def through_proxy(self) -> bool:
        """True if the request came, or claims to have come, through a proxy.

        Network-based trust (METRICS_ALLOWED_NETWORKS) is never granted to
        such a request: a proxy on loopback would otherwise lend its own
        address to every client behind it.
        """
        return self.proxied or self.forwarded


def parse_ip(text: str) -> Address | None:
    """A plain IPv4/IPv6 address (IPv4-mapped IPv6 becomes IPv4), or None if malformed."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def resolve(
    peer: str | None,
    forwarded_for: Iterable[str],
    trusted: Sequence[Network],
    *,
    forwarded: bool = False,
) -> ClientAddress:
    """The client address from the direct peer and the `X-Forwarded-For` values.

    `forwarded_for` holds the header's values in the order received (several
    headers are one comma-separated list). `forwarded` says whether any
    forwarding header was present (defaults to whether `forwarded_for` has
    any text). See the module docstring for the rule.
    """
    values = [v for v in forwarded_for if v is not None]
    forwarded = forwarded or any(v.strip() for v in values)
    peer_address = parse_ip(peer) if peer else None
    if peer_address is None:
        shown = peer or UNKNOWN
        return ClientAddress(ip=shown, peer=shown, proxied=False, forwarded=forwarded)
    peer_text = str(peer_address)
    if not _trusted(peer_address, trusted):
        return ClientAddress(ip=peer_text, peer=peer_text, proxied=False, forwarded=forwarded)
    entries = ",".join(values).split(",") if values else []
    client = peer_address
    hops = 0
    for entry in reversed(entries):
        address = parse_ip(entry)
        if address is None:
            break  # malformed: the proxy that wrote it is the client we know
        if not _trusted(address, trusted):
            client = address
            break
        client = address
        hops += 1
        if hops >= MAX_HOPS:
            break
    return ClientAddress(ip=str(client), peer=peer_text, proxied=True, forwarded=forwarded)


def _trusted_networks() -> list[Network]:
    from django.conf import settings

    networks: list[Network] = settings.ARENA.trusted_proxy_networks
    return networks


def for_request(request: HttpRequest) -> ClientAddress:
    """The client address of a Django request (REMOTE_ADDR and its headers)."""
    meta = request.META
    forwarded = any(f"HTTP_{name.upper().replace('-', '_')}" in meta
                    for name in FORWARDING_HEADERS)
    header = meta.get("HTTP_X_FORWARDED_FOR")
    return resolve(
        str(meta.get("REMOTE_ADDR") or "") or None,
        [str(header)] if header is not None else [],
        _trusted_networks(),
        forwarded=forwarded,
    )


def for_scope(scope: dict[str, Any], trusted: Sequence[Network] | None = None) -> ClientAddress:
    """The client address of an ASGI scope (HTTP or WebSocket)."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    values: list[str] = []
    forwarded = False
    for name, value in scope.get("headers") or ():
        lowered = bytes(name).lower()
        if lowered.decode("latin-1") in FORWARDING_HEADERS:
            forwarded = True
        if lowered == b"x-forwarded-for":
            values.append(bytes(value).decode("latin-1"))
    return resolve(peer, values, _trusted_networks() if trusted is None else trusted,
                   forwarded=forwarded)
