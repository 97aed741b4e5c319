"""A live daphne server: the README's first-run promise, over real sockets."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.servers import LiveServer, http_json

pytestmark = pytest.mark.live


def test_healthz(daphne_server: LiveServer) -> None:
    assert http_json("GET", f"{daphne_server.url}/healthz") == (200, {"status": "ok"})


async def test_guest_token_opens_the_lobby_socket(daphne_server: LiveServer) -> None:
    status, body = http_json("POST", f"{daphne_server.url}/api/session/guest", {"name": "ann"})
    assert status == 201
    async with connect(f"{daphne_server.ws_url}/ws/lobby/?token={body['token']}") as ws:
        first = json.loads(await ws.recv())
        assert first["type"] in {"hello", "presence", "rooms"}


@pytest.mark.parametrize("query", ["", "?token=", "?token=forged:abc:def"])
async def test_missing_or_bad_token_closes_with_4001(daphne_server: LiveServer, query: str) -> None:
    async with connect(f"{daphne_server.ws_url}/ws/lobby/{query}") as ws:
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                await ws.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4001


async def test_foreign_origin_is_refused_at_handshake(daphne_server: LiveServer) -> None:
    _, body = http_json("POST", f"{daphne_server.url}/api/session/guest", {"name": "ann"})
    url = f"{daphne_server.ws_url}/ws/lobby/?token={body['token']}"
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, origin="http://evil.example"):  # type: ignore[arg-type]
            pass
    assert caught.value.response.status_code == 403
