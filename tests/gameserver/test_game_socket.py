"""The game socket through the real ASGI application (WebsocketCommunicator)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest
from django.conf import settings

from tests.gameserver.game_client import GameClient, new_guest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def arena(settings: Any) -> Any:
    """Tweak runtime settings for one test (each test has its own loop and manager)."""

    def update(**values: Any) -> None:
        settings.ARENA = settings.ARENA.model_copy(update=values)

    return update


async def joined(room: str, name: str = "ann", query: str = "") -> tuple[GameClient, int]:
    user_id, token = await new_guest(name)
    client = GameClient(room, token, query)
    welcome = await client.connect()
    assert welcome["t"] == "welcome", welcome
    return client, user_id


async def test_join_gets_welcome_then_full_snapshot_then_deltas() -> None:
    client, user_id = await joined("r1")
    first = await client.until(lambda f: f["t"] == "snap")
    assert first["full"] is True
    assert user_id in first["players"] and user_id in first["acks"]
    second = await client.until(lambda f: f["t"] == "snap")
    assert second["full"] is False and second["tick"] > first["tick"]
    assert "acks" in second
    await client.disconnect()


async def test_welcome_names_rates_and_player() -> None:
    user_id, token = await new_guest()
    client = GameClient("r-w", token)
    welcome = await client.connect()
    assert welcome["player_id"] == user_id
    assert welcome["room"] == "r-w"
    assert welcome["tick_rate"] == settings.ARENA.tick_rate
    assert welcome["snapshot_rate"] == settings.ARENA.snapshot_rate
    await client.disconnect()


async def test_inputs_move_the_player_and_are_acked() -> None:
    client, user_id = await joined("r2")
    await client.until(lambda f: f["t"] == "snap")
    start_x = client.player(user_id)[0]
    for seq in range(1, 11):
        await client.send_input(seq, mx=1.0)
        await client.until(lambda f: f["t"] == "snap")
    await client.until(lambda f: f["t"] == "snap" and client.world["acks"][user_id] >= 10)
    assert client.player(user_id)[0] > start_x, "moving right must increase x"
    await client.disconnect()


async def test_ping_is_answered_at_once_with_the_same_id() -> None:
    client, _ = await joined("r3")
    await client.send({"t": "ping", "id": 41})
    pong = await client.until(lambda f: f["t"] == "pong")
    assert pong == {"t": "pong", "id": 41}
    await client.disconnect()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xc1garbage", "bad_frame"),
        (msgpack.packb([1, 2, 3]), "bad_frame"),
        (msgpack.packb({"x": 1}), "bad_frame"),
        (msgpack.packb({"t": "teleport"}), "unknown_type"),
        (msgpack.packb({"t": "input", "seq": 1, "mx": 5.0, "my": 0, "aim": 0, "fire": False}),
         "invalid"),
        (msgpack.packb({"t": "input", "seq": "1", "mx": 0, "my": 0, "aim": 0, "fire": False}),
         "invalid"),
        (msgpack.packb({"t": "input", "seq": 1, "mx": float("nan"), "my": 0, "aim": 0,
                        "fire": False}), "invalid"),
        (msgpack.packb({"t": "ping", "id": True}), "invalid"),
        (msgpack.packb({"t": "chat", "text": ""}), "invalid"),
    ],
)
async def test_bad_frames_get_an_error_and_change_nothing(payload: bytes, code: str) -> None:
    client, user_id = await joined("r4")
    await client.until(lambda f: f["t"] == "snap")
    before = client.player(user_id)
    await client.send_raw(payload)
    error = await client.error()
    assert error["code"] == code and error["message"]
    # Still connected and served; the player did not move.
    await client.send({"t": "ping", "id": 1})
    await client.until(lambda f: f["t"] == "pong")
    assert client.player(user_id)[:2] == before[:2]
    await client.disconnect()


async def test_text_frame_is_refused() -> None:
    client, _ = await joined("r5")
    await client.ws.send_to(text_data='{"t": "ping", "id": 1}')
    assert (await client.error())["code"] == "bad_frame"
    await client.disconnect()


async def test_stale_seq_is_refused() -> None:
    client, _ = await joined("r6")
    await client.send_input(5)
    await client.send_input(5)
    assert (await client.error())["code"] == "stale_seq"
    await client.disconnect()


async def test_oversized_frame_closes_1009(arena: Any) -> None:
    arena(max_frame_bytes=256)
    client, _ = await joined("r7")
    await client.send({"t": "chat", "text": "x" * 300})
    assert await client.closed() == 1009


async def test_flood_closes_4008(arena: Any) -> None:
    arena(max_frames_per_second=10)
    client, _ = await joined("r8")
    for i in range(30):
        await client.send({"t": "ping", "id": i})
    assert await client.closed() == 4008


async def test_unauthenticated_and_bad_token_close_4001() -> None:
    for token in (None, "forged:token:value"):
        client = GameClient("r9", token)
        connected, _ = await client.ws.connect()
        assert connected, "the socket is accepted so the client can read why"
        error = await client.error()
        assert error["code"] in {"unauthenticated", "bad_token"}
        assert await client.closed() == 4001


async def test_spectator_receives_but_never_plays() -> None:
    player, player_id = await joined("r10", "pat")
    watcher, watcher_id = await joined("r10", "sue", "spectate=1")
    snap = await watcher.until(lambda f: f["t"] == "snap")
    assert player_id in snap["players"] and watcher_id not in snap["players"]
    await watcher.send_input(1, mx=1.0)
    assert (await watcher.error())["code"] == "spectator"
    await player.disconnect()
    await watcher.disconnect()


async def test_full_room_closes_4003(arena: Any) -> None:
    arena(max_players_per_room=2)
    a, _ = await joined("r11", "a")
    b, _ = await joined("r11", "b")
    _, token = await new_guest("c")
    c = GameClient("r11", token)
    refused = await c.connect()
    assert refused["t"] == "error" and refused["code"] == "room_full"
    assert await c.closed() == 4003
    await a.disconnect()
    await b.disconnect()


async def test_reconnect_within_grace_resumes_the_same_player() -> None:
    user_id, token = await new_guest("rex")
    first = GameClient("r12", token)
    await first.connect()
    await first.until(lambda f: f["t"] == "snap")
    for seq in range(1, 16):
        await first.send_input(seq, my=1.0)
        await first.until(lambda f: f["t"] == "snap")
    # Stand still until the player has stopped, then drop the socket.
    seq, previous = 15, None
    while previous != first.player(user_id)[:2]:
        previous = first.player(user_id)[:2]
        seq += 1
        await first.send_input(seq)
        await first.until(
            lambda f, sent=seq: f["t"] == "snap" and first.world["acks"][user_id] >= sent
        )
    moved_to = first.player(user_id)[:2]
    assert moved_to[1] > 0
    await first.disconnect()

    again = GameClient("r12", token)
    assert (await again.connect())["t"] == "welcome"
    snap = await again.until(lambda f: f["t"] == "snap")
    assert snap["full"] is True
    assert snap["players"][user_id][:2] == moved_to, "position survives the reconnect"
    # The new connection starts its own input sequence.
    await again.send_input(1, mx=1.0)
    await again.until(lambda f: f["t"] == "snap" and again.world["acks"][user_id] == 1)
    await again.disconnect()


async def test_after_the_grace_period_the_player_leaves_the_match(arena: Any) -> None:
    arena(reconnect_grace_seconds=0.2)
    stayer, _ = await joined("r13", "stay")
    leaver, leaver_id = await joined("r13", "leave")
    await stayer.until(lambda f: f["t"] == "snap" and leaver_id in stayer.world["players"])
    await leaver.disconnect()
    await stayer.until(
        lambda f: f["t"] == "snap" and leaver_id not in stayer.world["players"], timeout=5
    )
    await stayer.disconnect()


async def test_second_socket_of_a_player_replaces_the_first() -> None:
    user_id, token = await new_guest("two")
    first = GameClient("r14", token)
    await first.connect()
    second = GameClient("r14", token)
    await second.connect()
    assert await first.closed() == 4010
    snap = await second.until(lambda f: f["t"] == "snap")
    assert user_id in snap["players"]
    await second.disconnect()


async def test_room_chat_is_stored_and_relayed() -> None:
    from lobby.models import ChatMessage

    a, a_id = await joined("r15", "amy")
    b, _ = await joined("r15", "bob")
    await a.send({"t": "chat", "text": "gl hf"})
    got = await b.until(lambda f: f["t"] == "chat")
    assert got["text"] == "gl hf" and got["from"] == {"id": a_id, "name": "amy"}
    assert isinstance(got["id"], int)
    assert isinstance(got["ts"], str)
    count = await ChatMessage.objects.filter(channel="room.r15", text="gl hf").acount()
    assert count == 1
    await a.disconnect()
    await b.disconnect()


async def test_a_deleted_room_chat_line_reaches_the_room_live() -> None:
    from asgiref.sync import sync_to_async

    from lobby import chat

    a, _ = await joined("r15d", "amy")
    b, _ = await joined("r15d", "bob")
    await a.send({"t": "chat", "text": "rude words"})
    line = await b.until(lambda f: f["t"] == "chat")
    # A moderator deletes it from sync code, as the admin does.
    assert await sync_to_async(chat.delete_message)(line["id"]) is True
    for client in (a, b):
        gone = await client.until(lambda f: f["t"] == "chat.deleted")
        assert gone == {"t": "chat.deleted", "id": line["id"]}
    await a.disconnect()
    await b.disconnect()


async def test_staff_kick_closes_4011_and_removes_the_player() -> None:
    from gameserver.manager import get_manager

    stayer, _ = await joined("r16", "stay")
    kicked, kicked_id = await joined("r16", "kick")
    await stayer.until(lambda f: f["t"] == "snap" and kicked_id in stayer.world["players"])
    await get_manager().kick("r16", kicked_id)
    assert await kicked.closed() == 4011
    await stayer.until(lambda f: f["t"] == "snap" and kicked_id not in stayer.world["players"])
    await stayer.disconnect()


async def test_staff_notice_reaches_the_room_and_monitor_lists_it() -> None:
    from gameserver.manager import get_manager

    client, _ = await joined("r17")
    await get_manager().announce("server restarts in 5 minutes", room="r17")
    notice = await client.until(lambda f: f["t"] == "notice")
    assert notice["text"] == "server restarts in 5 minutes"
    stats = {room["name"]: room for room in get_manager().room_stats()}
    assert stats["r17"]["players"] == 1 and stats["r17"]["tick_rate"] == settings.ARENA.tick_rate
    await client.disconnect()


async def test_closing_a_room_closes_its_sockets_with_4004() -> None:
    from gameserver.manager import get_manager

    client, _ = await joined("r18")
    await client.until(lambda f: f["t"] == "snap")
    await get_manager().close_room("r18")
    error = await client.error()
    assert error["code"] == "room_closed"
    assert await client.closed() == 4004


async def test_a_restarted_single_process_lists_no_players_of_its_past() -> None:
    from lobby import rooms as lobby_rooms
    from lobby.models import Room

    # What a server that died mid-match leaves behind: a joined seat, a phase.
    user_id, _ = await new_guest("ghost")
    await lobby_rooms.aopen_room("stale")
    from lobby.models import User

    await lobby_rooms.aclaim_seat("stale", await User.objects.aget(pk=user_id))
    await Room.objects.filter(name="stale").aupdate(phase="playing")
    client, _ = await joined("fresh")  # the first socket starts this process's manager
    listed = {room["name"]: room for room in await lobby_rooms.apublic_rooms()}
    assert listed["stale"]["players"] == 0 and listed["stale"]["phase"] == "waiting"
    assert listed["fresh"]["players"] == 1
    await client.disconnect()


async def test_match_events_are_announced_before_the_snapshot() -> None:
    a, _ = await joined("r19", "amy")
    b, _ = await joined("r19", "bob")  # two players: the countdown starts
    frame = await a.until(lambda f: f["t"] == "events")
    phases = [e for e in frame["events"] if e["kind"] == "phase"]
    assert phases and phases[0]["phase"] == "countdown" and phases[0]["tick"] == frame["tick"]
    snap = await a.until(lambda f: f["t"] == "snap")
    assert snap["tick"] == frame["tick"] and a.world["phase"] == "countdown"
    await a.disconnect()
    await b.disconnect()


async def test_match_results_are_persisted_and_players_notified() -> None:
    from gameserver.manager import get_manager
    from lobby.models import MatchResult, Notification

    a, a_id = await joined("r20", "amy")
    b, b_id = await joined("r20", "bob")
    manager = get_manager()
    manager.force_phase("r20", "start")
    await a.until(lambda f: f["t"] == "snap" and a.world["phase"] == "playing")
    manager.force_phase("r20", "end")
    ended = await a.until(
        lambda f: f["t"] == "events" and any(e["kind"] == "match_end" for e in f["events"])
    )
    results = next(e for e in ended["events"] if e["kind"] == "match_end")["results"]
    assert {row["player_id"] for row in results} == {a_id, b_id}
    # Persisted by a background task, off the tick: wait for the notifications.
    for _ in range(100):
        if await Notification.objects.filter(kind="match_result").acount() == 2:
            break
        await asyncio.sleep(0.05)
    match = await MatchResult.objects.filter(room="r20").afirst()
    assert match is not None
    assert await Notification.objects.filter(kind="match_result", user_id=a_id).aexists()
    await a.disconnect()
    await b.disconnect()


async def test_a_failing_tick_closes_only_its_room(caplog: pytest.LogCaptureFixture) -> None:
    from gameserver.manager import get_manager

    doomed, _ = await joined("r21", "doomed")
    healthy, _ = await joined("r22", "fine")
    await doomed.until(lambda f: f["t"] == "snap")
    engine = get_manager().engines["r21"]

    def boom() -> list[Any]:
        raise RuntimeError("rule bug")

    engine.match.step = boom  # type: ignore[method-assign]
    error = await doomed.error()
    assert error["code"] == "room_failed"
    assert await doomed.closed() == 1011
    assert any("r21" in r.getMessage() and "tick" in r.getMessage() for r in caplog.records)
    before = healthy.snapshots
    await healthy.until(lambda f: f["t"] == "snap" and healthy.snapshots >= before + 5)
    assert "r21" not in get_manager().engines
    await healthy.disconnect()


async def test_a_room_without_players_is_disposed(arena: Any) -> None:
    from gameserver.manager import get_manager
    from lobby.models import Room

    arena(room_idle_seconds=0.2, reconnect_grace_seconds=0.1)
    client, _ = await joined("r23")
    await client.until(lambda f: f["t"] == "snap")
    await client.disconnect()
    for _ in range(100):
        if "r23" not in get_manager().engines:
            break
        await asyncio.sleep(0.05)
    assert "r23" not in get_manager().engines
    room = await Room.objects.aget(name="r23")
    assert room.closed_at is not None
