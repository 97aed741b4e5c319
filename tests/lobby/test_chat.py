"""Lobby chat: delivery, storage, history paging, validation, rate limits, moderation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from lobby import chat
from lobby.admin import ChatMessageAdmin
from lobby.models import ChatMessage, Mute, Room
from tests.lobby.helpers import LobbyClient, aget, anew_user, assert_error, make_user

# Sync tests roll back (fast); async and threaded tests commit for real.
pytestmark = pytest.mark.django_db
TX = pytest.mark.django_db(transaction=True)


@TX
async def test_chat_reaches_every_member_and_is_stored_once() -> None:
    ann, ann_token = await anew_user("ann")
    _, bob_token = await anew_user("bob")
    a = await LobbyClient(ann_token).connect()
    b = await LobbyClient(bob_token).connect()
    b2 = await LobbyClient(bob_token).connect()  # a second tab of bob
    await a.send({"type": "chat.send", "text": "  hello <b>all</b>  "})
    frames = [await c.of_type("chat.message") for c in (a, b, b2)]
    assert frames[0] == frames[1] == frames[2]
    frame = frames[0]
    assert set(frame) >= {"type", "id", "user", "text", "ts"}
    assert frame["user"] == {"id": ann.pk, "name": "ann"}
    assert frame["text"] == "hello <b>all</b>", "stored raw, stripped, never escaped"
    assert frame["ts"].endswith("Z")
    assert await ChatMessage.objects.filter(channel="lobby").acount() == 1
    stored = await ChatMessage.objects.aget(pk=frame["id"])
    assert stored.text == frame["text"]
    for c in (a, b, b2):
        await c.disconnect()


@TX
async def test_chat_is_stored_before_it_is_broadcast() -> None:
    _, token = await anew_user("ann")
    a = await LobbyClient(token).connect()
    await a.send({"type": "chat.send", "text": "first"})
    frame = await a.of_type("chat.message")
    # The moment a member sees it, history already has it.
    answer = await aget("/api/chat/lobby")
    assert [m["id"] for m in answer.json()["messages"]] == [frame["id"]]
    await a.disconnect()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\x00\x07\n\t", "empty"),
        ("x" * 201, "too_long"),
        (123, "invalid"),
        (None, "invalid"),
        (["hi"], "invalid"),
    ],
)
@TX
async def test_bad_chat_text_gets_an_error_and_stores_nothing(text: Any, code: str) -> None:
    _, token = await anew_user("ann")
    a = await LobbyClient(token).connect()
    await a.send({"type": "chat.send", "text": text})
    error = await a.of_type("error")
    assert error["code"] == code and error["message"]
    assert await ChatMessage.objects.acount() == 0
    await a.disconnect()


def test_control_characters_are_stripped_and_200_chars_allowed() -> None:
    assert chat.clean_text("a\x00b\u202ec\nd") == "abcd"
    assert chat.clean_text("é" * 200) == "é" * 200
    with pytest.raises(chat.ChatError) as caught:
        chat.clean_text("x" * 10_000)
    assert caught.value.code == "too_long"


@TX
async def test_chat_rate_limit_per_user_over_all_tabs(arena: Any) -> None:
    arena(chat_rate_count=3, chat_rate_seconds=60)
    _, token = await anew_user("ann")
    tab1 = await LobbyClient(token).connect()
    tab2 = await LobbyClient(token).connect()
    for i, tab in enumerate((tab1, tab2, tab1)):
        await tab.send({"type": "chat.send", "text": f"m{i}"})
        await tab.of_type("chat.message")
    await tab2.send({"type": "chat.send", "text": "one too many"})
    error = await tab2.of_type("error")
    assert error["code"] == "rate_limited"
    assert await ChatMessage.objects.acount() == 3
    await tab1.disconnect()
    await tab2.disconnect()


@TX
async def test_muted_user_cannot_chat_until_the_mute_ends() -> None:
    ann, token = await anew_user("ann")
    mute = await Mute.objects.acreate(user=ann, until=timezone.now() + timedelta(hours=1))
    a = await LobbyClient(token).connect()
    await a.send({"type": "chat.send", "text": "let me speak"})
    assert (await a.of_type("error"))["code"] == "muted"
    assert await ChatMessage.objects.acount() == 0
    mute.until = timezone.now() - timedelta(seconds=1)
    await mute.asave()
    await a.send({"type": "chat.send", "text": "free again"})
    assert (await a.of_type("chat.message"))["text"] == "free again"
    await a.disconnect()


@sync_to_async
def _admin_delete(message_id: int) -> None:
    from django.contrib.admin.sites import site

    admin = ChatMessageAdmin(ChatMessage, site)
    admin.delete_queryset(None, ChatMessage.objects.filter(pk=message_id))  # type: ignore[arg-type]


@TX
async def test_moderator_delete_removes_the_message_live_and_from_history() -> None:
    _, ann_token = await anew_user("ann")
    _, bob_token = await anew_user("bob")
    a = await LobbyClient(ann_token).connect()
    b = await LobbyClient(bob_token).connect()
    await a.send({"type": "chat.send", "text": "rude words"})
    bad = await b.of_type("chat.message")
    await a.of_type("chat.message")
    await _admin_delete(bad["id"])
    for c in (a, b):
        deleted = await c.of_type("chat.deleted")
        assert deleted["id"] == bad["id"]
    history = (await aget("/api/chat/lobby")).json()
    assert history["messages"] == []
    row = await ChatMessage.objects.aget(pk=bad["id"])
    assert row.deleted_at is not None, "soft delete: the row stays for the record"
    await a.disconnect()
    await b.disconnect()


def test_admin_pages_and_actions_work_for_staff() -> None:
    staff, _ = make_user("mod")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    ann, _ = make_user("ann")
    message = ChatMessage.objects.create(channel="lobby", user=ann, text="spam")
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/lobby/chatmessage/").status_code == 200
    answer = client.post(
        "/admin/lobby/chatmessage/",
        {"action": "mute_authors_one_hour", "_selected_action": [message.pk]},
    )
    assert answer.status_code == 302
    assert chat.muted_until(ann.pk) is not None
    answer = client.post(
        "/admin/lobby/chatmessage/",
        {"action": "soft_delete", "_selected_action": [message.pk]},
    )
    assert answer.status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is not None
    for page in ("room", "mute", "notification", "matchresult", "presence", "user"):
        assert client.get(f"/admin/lobby/{page}/").status_code == 200, page


def _seed(count: int, channel: str = "lobby") -> list[int]:
    user, _ = make_user("ann")
    return [
        ChatMessage.objects.create(channel=channel, user=user, text=f"m{i}").pk
        for i in range(count)
    ]


def test_history_pages_backwards_with_a_cursor() -> None:
    ids = _seed(7)
    client = Client()
    first = client.get("/api/chat/lobby?limit=3").json()
    assert [m["id"] for m in first["messages"]] == ids[4:7], "latest, oldest first"
    assert first["messages"][0]["text"] == "m4"
    assert first["next_before"] == ids[4]
    second = client.get(f"/api/chat/lobby?limit=3&before={first['next_before']}").json()
    assert [m["id"] for m in second["messages"]] == ids[1:4]
    third = client.get(f"/api/chat/lobby?limit=3&before={second['next_before']}").json()
    assert [m["id"] for m in third["messages"]] == ids[0:1]
    assert third["next_before"] is None
    default = client.get("/api/chat/lobby").json()
    assert len(default["messages"]) == 7 and default["next_before"] is None


def test_history_of_a_room_channel_and_shape() -> None:
    Room.objects.create(name="r1", max_players=4)
    ids = _seed(2, "room.r1")
    _seed(1, "lobby")
    body = Client().get("/api/chat/room.r1").json()
    assert [m["id"] for m in body["messages"]] == ids
    assert set(body["messages"][0]) >= {"id", "user", "text", "ts"}


def test_private_room_history_needs_a_seat_creator_or_invite() -> None:
    owner, owner_token = make_user("own")
    _, stranger_token = make_user("str")
    room = Room.objects.create(name="secret", max_players=4, private=True,
                               invite_code="abc", created_by=owner)
    _seed(1, "room.secret")
    auth = {"Authorization": f"Bearer {stranger_token}"}
    assert_error(Client().get("/api/chat/room.secret", headers=auth), 404, "not_found")
    assert Client().get("/api/chat/room.secret?invite=abc", headers=auth).status_code == 200
    owner_auth = {"Authorization": f"Bearer {owner_token}"}
    assert Client().get("/api/chat/room.secret", headers=owner_auth).status_code == 200
    assert room.pk


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/chat/lobby?limit=0", 400, "invalid"),
        ("/api/chat/lobby?limit=101", 400, "invalid"),
        ("/api/chat/lobby?limit=abc", 400, "invalid"),
        ("/api/chat/lobby?limit=", 400, "invalid"),
        ("/api/chat/lobby?limit=1e3", 400, "invalid"),
        ("/api/chat/lobby?before=-1", 400, "invalid"),
        ("/api/chat/lobby?before=99999999999999999999999", 400, "invalid"),
        ("/api/chat/lobby?before=%F0%9F%98%80", 400, "invalid"),
        ("/api/chat/general", 400, "bad_channel"),
        ("/api/chat/room.", 400, "bad_channel"),
        ("/api/chat/room.bad%20name", 400, "bad_channel"),
        ("/api/chat/room.nope", 404, "not_found"),
    ],
)
def test_history_bad_params_are_contract_errors(path: str, status: int, code: str) -> None:
    assert_error(Client().get(path), status, code)


def test_history_wrong_method() -> None:
    assert_error(Client().post("/api/chat/lobby"), 405, "method_not_allowed")
