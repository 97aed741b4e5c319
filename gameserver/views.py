"""Process-level HTTP endpoints: health and Prometheus metrics."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gameserver import metrics
from gameserver.manager import get_manager
from lobby import client_address
from lobby.http import api, error_response


@api("GET", "HEAD")
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process serves."""
    return JsonResponse({"status": "ok"})


def metrics_allowed(request: HttpRequest) -> bool:
    """True for `Authorization: Bearer <METRICS_TOKEN>` or a direct peer in the allowed networks.

    Network trust is only for requests that came straight from the scraper:
    a request that came through a trusted proxy, or carries any forwarding
    header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`), needs the token
    whatever its address. A reverse proxy on loopback would otherwise lend
    its loopback address to every client behind it
    (lobby/client_address.py; docs/security.md).
    """
    config = settings.ARENA
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if config.metrics_token and scheme.lower() == "bearer":
        return hmac.compare_digest(given.strip().encode(), config.metrics_token.encode())
    client = client_address.for_request(request)
    if client.through_proxy:
        return False
    peer = client_address.parse_ip(client.ip)
    if peer is None:
        return False
    return any(peer.version == net.version and peer in net for net in config.metrics_networks)


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format, for the token holder or allowed networks only.

    Async so it runs on the server's event loop, where this process's rooms
    live: the room-by-phase gauge is refreshed from them at scrape time.
    """
    if request.method not in {"GET", "HEAD"}:
        response = error_response(405, "method_not_allowed", "use GET or HEAD")
        response["Allow"] = "GET, HEAD"
        return response
    if not metrics_allowed(request):
        return error_response(
            403, "forbidden", "metrics need the bearer METRICS_TOKEN or an allowed network"
        )
    get_manager().observe_rooms()
    metrics.flush()
    multiproc = settings.ARENA.prometheus_multiproc_dir
    body = generate_latest(metrics.registry(str(multiproc) if multiproc else None))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
