"""The staff room monitor (/staff/rooms/): staff only; lists rooms, kicks, closes, announces."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from lobby.models import User
from tests.gameserver.game_client import GameClient, new_guest

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def make_user(name: str, staff: bool) -> User:
    return User.objects.create_user(username=name, password="pw-for-tests-only", is_staff=staff)


async def staff_client(enforce_csrf: bool = False) -> AsyncClient:
    client = AsyncClient(enforce_csrf_checks=enforce_csrf)
    await client.aforce_login(await make_user("boss", staff=True))
    return client


async def joined(room: str, name: str) -> tuple[GameClient, int]:
    user_id, token = await new_guest(name)
    client = GameClient(room, token)
    assert (await client.connect())["t"] == "welcome"
    await client.until(lambda f: f["t"] == "snap")
    return client, user_id


async def test_anonymous_and_non_staff_users_are_kept_out() -> None:
    anonymous = AsyncClient()
    page = await anonymous.get("/staff/rooms/")
    assert page.status_code == 302 and "/admin/login/" in page["Location"]
    answer = await anonymous.get("/staff/rooms.json")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "not_authenticated"
    player = AsyncClient()
    await player.aforce_login(await make_user("pleb", staff=False))
    assert (await player.get("/staff/rooms/")).status_code == 302
    answer = await player.get("/staff/rooms.json")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    refused = await player.post("/staff/rooms/close", {"room": "x"},
                                headers={"Accept": "application/json"})
    assert refused.status_code == 403


async def test_staff_see_live_rooms_in_html_and_json() -> None:
    game, _ = await joined("mon-1", "ann")
    client = await staff_client()
    page = await client.get("/staff/rooms/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-room="mon-1"' in html and "csrfmiddlewaretoken" in html
    rooms = {room["name"]: room for room in (await client.get("/staff/rooms.json")).json()["rooms"]}
    room = rooms["mon-1"]
    assert room["players"] == 1 and room["phase"] == "waiting"
    assert {"tick_rate", "tick_p99_ms", "spectators", "tick"} <= set(room)
    await game.disconnect()


async def test_room_names_are_escaped_in_the_page() -> None:
    client = await staff_client()
    html = (await client.get("/staff/rooms/")).content.decode()
    assert "<script" not in html


async def test_kick_closes_the_players_socket_4011() -> None:
    stayer, _ = await joined("mon-2", "stay")
    kicked, kicked_id = await joined("mon-2", "kick")
    client = await staff_client()
    answer = await client.post("/staff/rooms/kick", {"room": "mon-2", "user_id": kicked_id})
    assert answer.status_code == 302
    assert await kicked.closed() == 4011
    await stayer.until(lambda f: f["t"] == "snap" and kicked_id not in stayer.world["players"])
    await stayer.disconnect()


async def test_announce_sends_a_notice_to_the_room() -> None:
    game, _ = await joined("mon-3", "ann")
    client = await staff_client()
    answer = await client.post("/staff/rooms/announce", {"room": "mon-3", "text": "brb <b>"},
                               headers={"Accept": "application/json"})
    assert answer.json() == {"ok": True, "done": "announced to mon-3"}
    notice = await game.until(lambda f: f["t"] == "notice")
    assert notice["text"] == "brb <b>"
    await game.disconnect()


async def test_close_room_closes_its_sockets_4004() -> None:
    game, _ = await joined("mon-4", "ann")
    client = await staff_client()
    answer = await client.post("/staff/rooms/close", {"room": "mon-4"})
    assert answer.status_code == 302
    assert await game.closed() == 4004
    rooms = (await client.get("/staff/rooms.json")).json()["rooms"]
    assert "mon-4" not in {room["name"] for room in rooms}


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/staff/rooms/kick", {"room": "bad name!", "user_id": "1"}),
        ("/staff/rooms/kick", {"room": "ok", "user_id": "x"}),
        ("/staff/rooms/close", {"room": "not-running"}),
        ("/staff/rooms/announce", {"text": ""}),
        ("/staff/rooms/announce", {"text": "x" * 201}),
    ],
)
async def test_bad_actions_answer_json_errors(path: str, data: dict[str, Any]) -> None:
    client = await staff_client()
    answer = await client.post(path, data, headers={"Accept": "application/json"})
    assert 400 <= answer.status_code < 500
    assert answer.json()["error"]["code"] in {"invalid", "not_found"}


async def test_actions_need_the_csrf_token() -> None:
    client = await staff_client(enforce_csrf=True)
    answer = await client.post("/staff/rooms/announce", {"text": "hi"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "csrf_failed"
    page = await client.get("/staff/rooms/")
    token = page.context["csrf_token"] if page.context else client.cookies["csrftoken"].value
    ok = await client.post("/staff/rooms/announce", {"text": "hi"},
                           headers={"X-CSRFToken": str(token)})
    assert ok.status_code == 302


async def test_actions_are_post_only() -> None:
    client = await staff_client()
    assert (await client.get("/staff/rooms/kick")).status_code == 405


async def test_actions_are_rate_limited_per_staff_user(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"staff_action_rate_per_minute": 2})
    client = await staff_client()
    json_accept = {"Accept": "application/json"}
    answers = [await client.post("/staff/rooms/announce", {"text": "hi"}, headers=json_accept)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert int(answers[2]["Retry-After"]) >= 1


async def test_admin_login_posts_are_rate_limited_per_client_address(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"admin_login_rate_per_minute": 2})
    await make_user("admin-user", staff=True)
    client = AsyncClient()
    form = {"username": "admin-user", "password": "wrong", "next": "/admin/"}
    statuses = [(await client.post("/admin/login/", form)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429], "two wrong passwords re-show the form, then 429"
    right = await client.post("/admin/login/", {**form, "password": "pw-for-tests-only"})
    assert right.status_code == 429, "past the budget even the right password waits"
    assert (await client.get("/admin/login/")).status_code == 200, "viewing the form is free"
