"""Security defences on a live daphne server (docs/security.md maps each to its test).

Defences proven elsewhere: signed, expiring, user-bound tokens
(tests/lobby/test_accounts.py); game socket flood 4008 and oversize 1009
(tests/gameserver/test_game_socket.py); malformed frames (tests/e2e/test_fuzz.py).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from engine import protocol
from engine.arena import codec
from tests.servers import LiveServer, http_json

pytestmark = pytest.mark.live


def new_guest(server: LiveServer, name: str) -> tuple[int, str]:
    status, body = http_json("POST", f"{server.url}/api/session/guest", {"name": name})
    assert status == 201, body
    return body["user"]["id"], body["token"]


async def next_frame(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    """The next message, which must be a binary (msgpack) frame."""
    data = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(data, bytes), f"text frame on the game socket: {data!r}"
    return protocol.decode(data)


async def frames_until(ws: Any, check: Any, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = protocol.decode(await ws.recv())
            if check(frame):
                return frame


# Origin ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws/game/origin-room/", "/ws/lobby/"])
async def test_foreign_origin_is_refused_at_handshake_on_every_socket(
    daphne_server: LiveServer, path: str
) -> None:
    _, token = new_guest(daphne_server, "ori")
    url = f"{daphne_server.ws_url}{path}?token={token}"
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, origin="http://evil.example"):  # type: ignore[arg-type]
            pass
    assert caught.value.response.status_code == 403
    # The server's own origin is let in.
    async with connect(url, origin=f"http://127.0.0.1:{daphne_server.port}") as ws:  # type: ignore[arg-type]
        assert await asyncio.wait_for(ws.recv(), 5)


# A player controls only their own entity -----------------------------------------


async def test_a_crafted_player_id_in_an_input_moves_only_the_sender(
    daphne_server: LiveServer,
) -> None:
    a_id, a_token = new_guest(daphne_server, "alice")
    b_id, b_token = new_guest(daphne_server, "bob")
    room = "own-entity"
    base = f"{daphne_server.ws_url}/ws/game/{room}/?token="
    # max_queue=None: b is never read; a bounded queue would stall its close handshake.
    async with connect(base + a_token, max_queue=None) as a, \
            connect(base + b_token, max_queue=None):
        state: dict[str, Any] = {}

        def track(frame: dict[str, Any]) -> bool:
            nonlocal state
            if frame["t"] == "snap":
                state = frame if frame["full"] else codec.apply(frame, state)
                return b_id in state.get("players", {})
            return False

        await frames_until(a, track)
        start_a, start_b = list(state["players"][a_id][:2]), list(state["players"][b_id][:2])
        for seq in range(1, 21):
            await a.send(protocol.encode({
                "t": "input", "seq": seq, "mx": 1.0, "my": 1.0, "aim": 0.0, "fire": False,
                "player": b_id, "player_id": b_id, "id": b_id, "user_id": b_id,
            }))
            await asyncio.sleep(0.05)
        await frames_until(a, lambda f: track(f) and state["acks"].get(a_id, 0) >= 20)
        assert state["players"][b_id][:2] == start_b, "another player's entity must not move"
        assert state["players"][a_id][:2] != start_a, "the sender's own entity moves"
        assert state["acks"].get(b_id, -1) <= 0, "no input was applied for the other player"


# Private rooms -------------------------------------------------------------------


async def test_private_room_needs_the_invite(daphne_server: LiveServer) -> None:
    _, owner = new_guest(daphne_server, "owner")
    _, other = new_guest(daphne_server, "other")
    status, body = http_json("POST", f"{daphne_server.url}/api/rooms", {"private": True},
                             token=owner)
    assert status == 201, body
    room, invite = body["room"]["name"], body["invite"]
    assert invite
    base = f"{daphne_server.ws_url}/ws/game/{room}/?token={other}"
    for query in ("", "&invite=wrong-invite"):
        async with connect(base + query) as ws:
            error = await next_frame(ws)
            assert error["t"] == "error"
            with pytest.raises(ConnectionClosed) as caught:
                await asyncio.wait_for(ws.recv(), 5)
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 4003
    async with connect(f"{base}&invite={invite}") as ws:
        assert (await next_frame(ws))["t"] == "welcome"


# CSRF on cookie-authenticated POSTs ------------------------------------------------


def test_cookie_session_post_needs_csrf_but_bearer_does_not(daphne_server: LiveServer) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{daphne_server.url}{path}", data=json.dumps({"name": "cookie"}).encode(),
            method="POST", headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with opener.open(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, body = post("/api/session/guest")
    assert status == 201
    assert any(cookie.name == "sessionid" for cookie in jar)
    status, answer = post("/api/matchmake")
    assert status == 403 and answer["error"]["code"] == "csrf_failed"
    status, answer = http_json("POST", f"{daphne_server.url}/api/matchmake", {},
                               token=body["token"])
    assert status == 200 and answer["room"]


# Rate limits on the API -------------------------------------------------------------


def test_guest_creation_and_matchmaking_are_rate_limited(start_server: Any) -> None:
    server = start_server(GUEST_RATE_PER_MINUTE="3", MATCHMAKE_RATE_PER_MINUTE="2")
    url = f"{server.url}/api/session/guest"
    answers = [http_json("POST", url, {"name": f"g{i}"}) for i in range(7)]
    assert [status for status, _ in answers[:3]] == [201, 201, 201]
    limited = [body for status, body in answers if status == 429]
    assert limited and limited[0]["error"]["code"] == "rate_limited"
    token = answers[0][1]["token"]
    made = [http_json("POST", f"{server.url}/api/matchmake", {}, token=token)
            for _ in range(5)]
    assert [status for status, _ in made[:2]] == [200, 200]
    assert any(status == 429 and body["error"]["code"] == "rate_limited"
               for status, body in made)
    # Per user: another user still gets a room.
    other = answers[1][1]["token"]
    assert http_json("POST", f"{server.url}/api/matchmake", {}, token=other)[0] == 200


# /metrics access -------------------------------------------------------------------


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_are_served_to_loopback_for_the_bench(daphne_server: LiveServer) -> None:
    status, text = _get(f"{daphne_server.url}/metrics")
    assert status == 200
    assert "arena_tick_duration_seconds" in text and "process_cpu_seconds_total" in text


def test_metrics_outside_the_allowed_networks_need_the_token(start_server: Any) -> None:
    secret = "s3cret-metrics-token-0123456789"
    server = start_server(METRICS_ALLOWED_NETWORKS="10.0.0.0/8", METRICS_TOKEN=secret)
    status, text = _get(f"{server.url}/metrics")
    assert status == 403 and json.loads(text)["error"]["code"] == "forbidden"
    assert _get(f"{server.url}/metrics", "wrong")[0] == 403
    status, text = _get(f"{server.url}/metrics", secret)
    assert status == 200 and "arena_connected" in text


# Secrets never reach the logs ------------------------------------------------------


async def test_tokens_never_appear_in_the_server_log(start_server: Any) -> None:
    server = start_server(LOG_LEVEL="INFO", LOG_FORMAT="json")
    _, token = new_guest(server, "secretive")
    http_json("GET", f"{server.url}/api/rooms?token={token}")
    http_json("GET", f"{server.url}/no/such/page?token={token}")
    http_json("GET", f"{server.url}/api/session", token=token)
    http_json("GET", f"{server.url}/api/session", token=token + "tampered")
    async with connect(f"{server.ws_url}/ws/game/log-room/?token={token}") as ws:
        assert (await next_frame(ws))["t"] == "welcome"
    async with connect(f"{server.ws_url}/ws/lobby/?token={token}") as ws:
        await asyncio.wait_for(ws.recv(), 5)
    await asyncio.sleep(0.5)  # let the access log lines of the closes be written
    server.stop()
    log = server.log()
    signature = token.rsplit(":", 1)[-1]
    assert token not in log and signature not in log
    assert "[redacted]" in log, "the access log lines were expected, redacted"
    json_lines = [line for line in log.splitlines() if line.startswith("{")]
    assert json_lines and all("room" in json.loads(line) for line in json_lines)
