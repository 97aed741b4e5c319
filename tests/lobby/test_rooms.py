"""Rooms: the runtime API, the HTTP list/create, private invites and live list pushes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from lobby import rooms
from lobby.models import Room, Seat
from tests.lobby.helpers import (
    LobbyClient,
    anew_user,
    apost,
    assert_error,
    bearer,
    make_user,
    post_json,
)

# Sync tests roll back (fast); async and threaded tests commit for real.
pytestmark = pytest.mark.django_db
TX = pytest.mark.django_db(transaction=True)


def by_name(listing: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {room["name"]: room for room in listing}


def test_open_room_creates_a_public_room_with_default_size_and_reopens(settings: Any) -> None:
    room = rooms.open_room("alpha")
    assert not room.private and room.max_players == settings.ARENA.max_players_per_room
    assert rooms.open_room("alpha").pk == room.pk
    rooms.close_room("alpha")
    assert rooms.public_rooms() == []
    reopened = rooms.open_room("alpha")
    assert reopened.pk == room.pk and reopened.closed_at is None
    assert rooms.public_rooms() == [
        {"name": "alpha", "players": 0, "max_players": room.max_players,
         "phase": "waiting", "private": False, "game": "arena"}
    ]


@pytest.mark.parametrize("name", ["", "a" * 65, "bad name", "dots.no", "é"])
def test_bad_room_names_are_refused(name: str) -> None:
    with pytest.raises(rooms.RoomError) as caught:
        rooms.open_room(name)
    assert caught.value.code == "bad_name"


def test_claim_seat_fills_up_then_refuses_and_a_seat_holder_may_come_back() -> None:
    users = [make_user(f"p{i}")[0] for i in range(3)]
    room = rooms.open_room("small")
    Room.objects.filter(pk=room.pk).update(max_players=2)
    first = rooms.claim_seat("small", users[0], None)
    assert first.joined
    rooms.claim_seat("small", users[1], None)
    with pytest.raises(rooms.RoomError) as caught:
        rooms.claim_seat("small", users[2], None)
    assert caught.value.code == "room_full"
    assert rooms.claim_seat("small", users[0], None).pk == first.pk, "reconnects keep the seat"
    rooms.release_seat("small", users[1].pk)
    rooms.claim_seat("small", users[2], None)
    assert rooms.public_rooms()[0]["players"] == 2


def test_expired_reservations_free_their_seat() -> None:
    a, b = make_user("a")[0], make_user("b")[0]
    room = rooms.open_room("one")
    Room.objects.filter(pk=room.pk).update(max_players=1)
    Seat.objects.create(room=room, user=a, joined=False,
                        reserved_until=timezone.now() - timedelta(seconds=1))
    assert rooms.claim_seat("one", b, None).joined
    with pytest.raises(rooms.RoomError):
        rooms.claim_seat("one", a, None)


def test_claim_seat_in_unknown_or_closed_room_is_not_found() -> None:
    user, _ = make_user()
    with pytest.raises(rooms.RoomError) as caught:
        rooms.claim_seat("ghost", user, None)
    assert caught.value.code == "not_found"
    rooms.open_room("gone")
    rooms.close_room("gone")
    with pytest.raises(rooms.RoomError):
        rooms.claim_seat("gone", user, None)


def test_close_room_deletes_seats_and_phase_changes_are_recorded() -> None:
    user, _ = make_user()
    rooms.open_room("r")
    rooms.claim_seat("r", user, None)
    rooms.room_changed("r", phase="playing")
    assert rooms.public_rooms()[0]["phase"] == "playing"
    rooms.close_room("r")
    assert not Seat.objects.exists()
    assert Room.objects.get(name="r").closed_at is not None
    rooms.close_room("r")  # twice is harmless
    with pytest.raises(ValueError):
        rooms.room_changed("r", phase="x" * 17)


def test_private_room_needs_the_invite_unless_creator() -> None:
    owner_client = Client()
    owner = post_json(owner_client, "/api/session/guest", {"name": "own"}).json()
    answer = post_json(Client(), "/api/rooms", {"name": "club", "private": True,
                                                 "max_players": 4},
                       **bearer(owner["token"]))
    assert answer.status_code == 201, answer.content
    body = answer.json()
    code = body["invite"]
    assert body["room"] == {"name": "club", "players": 0, "max_players": 4,
                            "phase": "waiting", "private": True, "game": "arena"}
    assert body["invite_url"] == f"/play/club/?invite={code}"
    assert Client().get("/api/rooms").json()["rooms"] == [], "private rooms are not listed"
    guest, _ = make_user("guest")
    for wrong in (None, "", "nope", code[:-1]):
        with pytest.raises(rooms.RoomError) as caught:
            rooms.claim_seat("club", guest, wrong)
        assert caught.value.code == "private"
    assert rooms.claim_seat("club", guest, code).joined
    from lobby.models import User

    creator = User.objects.get(pk=owner["user"]["id"])
    assert rooms.claim_seat("club", creator, None).joined
    stranger, _ = make_user("str")
    with pytest.raises(rooms.RoomError):
        rooms.check_view("club", stranger, None)
    assert rooms.check_view("club", stranger, code).name == "club"
    assert rooms.check_view("club", guest, None).name == "club", "a seat holder may watch"


@TX
async def test_private_room_over_the_game_socket_closes_4003_without_invite() -> None:
    from channels.testing import WebsocketCommunicator

    from gameserver.asgi import application

    _, owner_token = await anew_user("own")
    answer = await apost("/api/rooms", {"name": "priv", "private": True}, owner_token)
    code = answer.json()["invite"]
    _, token = await anew_user("guest")
    refused = WebsocketCommunicator(application, f"/ws/game/priv/?token={token}")
    assert (await refused.connect())[0]
    closed = None
    while closed is None:
        message = await refused.receive_output(5)
        if message["type"] == "websocket.close":
            closed = message["code"]
    assert closed == 4003
    welcome = WebsocketCommunicator(application, f"/ws/game/priv/?token={token}&invite={code}")
    assert (await welcome.connect())[0]
    message = await welcome.receive_output(5)
    assert message["type"] == "websocket.send"
    await welcome.disconnect()


def test_create_room_http() -> None:
    _, token = make_user()
    client = Client(headers=bearer(token))
    answer = post_json(client, "/api/rooms", {})
    assert answer.status_code == 201
    body = answer.json()
    assert body["invite"] is None and body["invite_url"] is None
    name = body["room"]["name"]
    assert rooms.valid_name(name)
    assert by_name(client.get("/api/rooms").json()["rooms"])[name]["players"] == 0
    assert_error(post_json(client, "/api/rooms", {"name": name}), 409, "exists")
    rooms.close_room(name)
    again = post_json(client, "/api/rooms", {"name": name, "max_players": 2})
    assert again.status_code == 201 and again.json()["room"]["max_players"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""}, {"name": "bad name"}, {"name": "x" * 65}, {"name": 5},
        {"max_players": 0}, {"max_players": 10_000}, {"max_players": "4"},
        {"max_players": 2.5}, {"max_players": True}, {"private": "yes"}, {"private": 1},
        {"unknown": 1},
    ],
)
def test_create_room_bad_bodies(body: Any) -> None:
    _, token = make_user()
    assert_error(post_json(Client(), "/api/rooms", body, **bearer(token)), 400, "invalid")
    assert not Room.objects.exists()


def test_create_room_needs_login_and_json() -> None:
    assert_error(post_json(Client(), "/api/rooms", {}), 401, "not_authenticated")
    _, token = make_user()
    assert_error(post_json(Client(), "/api/rooms", "[1]", **bearer(token)), 400, "bad_json")
    assert_error(post_json(Client(), "/api/rooms", "{", **bearer(token)), 400, "bad_json")
    assert_error(Client().delete("/api/rooms"), 405, "method_not_allowed")


@TX
async def test_room_list_pushes_on_open_fill_phase_and_close(arena: Any) -> None:
    arena(rooms_push_interval_seconds=0.05)
    _, token = await anew_user("watch")
    watcher = await LobbyClient(token).connect()
    assert watcher.rooms == []

    async def rooms_frame(check: Any) -> dict[str, dict[str, Any]]:
        frame = await watcher.until(lambda f: f["type"] == "rooms" and check(by_name(f["rooms"])))
        return by_name(frame["rooms"])

    await rooms.aopen_room("live")
    listed = await rooms_frame(lambda r: "live" in r)
    assert listed["live"]["players"] == 0
    arena(max_players_per_room=2)
    await rooms.aopen_room("tiny")
    await rooms_frame(lambda r: "tiny" in r)
    a, _ = await anew_user("a")
    b, _ = await anew_user("b")
    await rooms.aclaim_seat("tiny", a, None)
    await rooms.aclaim_seat("tiny", b, None)
    full = await rooms_frame(lambda r: r.get("tiny", {}).get("players") == 2)
    assert full["tiny"]["max_players"] == 2
    await rooms.aroom_changed("tiny", phase="playing")
    await rooms_frame(lambda r: r.get("tiny", {}).get("phase") == "playing")
    await rooms.arelease_seat("tiny", b.pk)
    await rooms_frame(lambda r: r.get("tiny", {}).get("players") == 1)
    await rooms.aclose_room("tiny")
    await rooms_frame(lambda r: "tiny" not in r)
    # HTTP creation from a request thread is pushed too.
    await apost("/api/rooms", {"name": "made"}, token)
    await rooms_frame(lambda r: "made" in r)
    await watcher.disconnect()


@TX
async def test_room_list_pushes_are_debounced_and_only_on_change(arena: Any) -> None:
    arena(rooms_push_interval_seconds=0.3)
    _, token = await anew_user("watch")
    watcher = await LobbyClient(token).connect()
    loop_time = __import__("asyncio").get_running_loop().time
    started = loop_time()
    for i in range(10):
        await rooms.aopen_room(f"burst{i}")
    frames = [await watcher.of_type("rooms")]
    while len(by_name(frames[-1]["rooms"])) < 10:
        frames.append(await watcher.of_type("rooms"))
    elapsed = loop_time() - started
    # One push at once, then at most one per interval.
    assert len(frames) <= 1 + elapsed / 0.3 + 1e-9, (len(frames), elapsed)
    assert len(frames) < 10
    # A phase report that changes nothing pushes nothing.
    await rooms.aroom_changed("burst0", phase="waiting")
    await watcher.nothing_of("rooms", 0.5)
    await watcher.disconnect()


@TX
async def test_private_rooms_are_never_pushed(arena: Any) -> None:
    arena(rooms_push_interval_seconds=0.05)
    _, token = await anew_user("watch")
    owner, owner_token = await anew_user("own")
    watcher = await LobbyClient(token).connect()
    await apost("/api/rooms", {"name": "hidden", "private": True}, owner_token)
    await rooms.aclaim_seat("hidden", owner, None)
    await watcher.nothing_of("rooms", 0.4)
    await watcher.disconnect()


def test_room_list_http_shape() -> None:
    user, _ = make_user()
    rooms.open_room("a")
    rooms.claim_seat("a", user, None)
    answer = Client().get("/api/rooms")
    assert answer.status_code == 200
    assert answer.json() == {"rooms": [rooms.public_rooms()[0]]}
    assert answer.json()["rooms"][0]["players"] == 1


@TX
async def test_sync_api_from_threads_is_safe() -> None:
    user, _ = await anew_user()
    await sync_to_async(rooms.open_room)("t")
    seat = await sync_to_async(rooms.claim_seat)("t", user, None)
    assert seat.joined
