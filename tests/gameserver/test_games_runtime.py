"""Several games on one server, through the real ASGI application and the real lobby.

The runtime knows games only through `lobby.games` (the `GAMES` setting and
`engine.registry`): each room runs its own game at the game's rates, an input
of another game's schema is an `error` frame naming the field, and a room's
game is chosen by `POST /api/rooms {"game"}`, matchmaking or `?game=`.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from lobby import games
from lobby.models import Room
from tests.gameserver.game_client import GameClient, new_guest
from tests.lobby.helpers import bearer, post_json

pytestmark = pytest.mark.django_db(transaction=True)

PADDLE = games.get("paddle").codec


async def paddle_player(room: str, name: str, query: str = "game=paddle") -> tuple[GameClient, int]:
    user_id, token = await new_guest(name)
    client = GameClient(room, token, query, codec=PADDLE)
    welcome = await client.connect()
    assert welcome["t"] == "welcome", welcome
    assert (welcome["game"], welcome["tick_rate"], welcome["snapshot_rate"]) == ("paddle", 60, 30)
    return client, user_id


def test_games_are_listed_with_their_rates_default_first() -> None:
    answer = Client().get("/api/games")
    assert answer.status_code == 200
    listed = answer.json()["games"]
    assert [g["id"] for g in listed] == ["arena", "paddle"]
    assert listed[0] == {"id": "arena", "name": "Arena", "tick_rate": 20, "snapshot_rate": 20,
                         "min_players": 2, "max_players": 20}
    assert listed[1] == {"id": "paddle", "name": "Paddle", "tick_rate": 60, "snapshot_rate": 30,
                         "min_players": 2, "max_players": 4}


def test_create_a_room_of_a_game_and_unknown_games_are_400() -> None:
    client = Client()
    token = post_json(client, "/api/session/guest", {"name": "gia"}).json()["token"]
    answer = post_json(Client(), "/api/rooms", {"name": "pad-1", "game": "paddle"},
                       **bearer(token))
    assert answer.status_code == 201, answer.content
    assert answer.json()["room"]["game"] == "paddle"
    assert answer.json()["room"]["max_players"] == 4, "a paddle room has the game's seats"
    default = post_json(Client(), "/api/rooms", {"name": "arena-1"}, **bearer(token))
    assert default.json()["room"]["game"] == "arena"
    listed = {r["name"]: r["game"] for r in Client().get("/api/rooms").json()["rooms"]}
    assert listed == {"pad-1": "paddle", "arena-1": "arena"}
    for body in ({"name": "x1", "game": "chess"}, {"name": "x2", "game": ""}):
        bad = post_json(Client(), "/api/rooms", body, **bearer(token))
        assert bad.status_code == 400, bad.content
        error = bad.json()["error"]
        assert error["code"] == "unknown_game"
        assert "arena, paddle" in error["message"]
    wrong_type = post_json(Client(), "/api/rooms", {"name": "x3", "game": 7}, **bearer(token))
    assert wrong_type.status_code == 400
    too_big = post_json(Client(), "/api/rooms", {"name": "x4", "game": "paddle",
                                                 "max_players": 5}, **bearer(token))
    assert too_big.status_code == 400 and "paddle" in too_big.json()["error"]["message"]
    assert not Room.objects.filter(name__in=["x1", "x2", "x3", "x4"]).exists()


def test_matchmaking_keeps_games_apart() -> None:
    tokens = [post_json(Client(), "/api/session/guest", {"name": f"m{i}"}).json()["token"]
              for i in range(3)]
    first = post_json(Client(), "/api/matchmake", {"game": "paddle"}, **bearer(tokens[0]))
    assert first.status_code == 200, first.content
    paddle_room = first.json()["room"]
    assert Room.objects.get(name=paddle_room).game == "paddle"
    arena = post_json(Client(), "/api/matchmake", {}, **bearer(tokens[1]))
    assert arena.json()["room"] != paddle_room
    assert Room.objects.get(name=arena.json()["room"]).game == "arena"
    second = post_json(Client(), "/api/matchmake", {"game": "paddle"}, **bearer(tokens[2]))
    assert second.json()["room"] == paddle_room
    bad = post_json(Client(), "/api/matchmake", {"game": "chess"}, **bearer(tokens[2]))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_game"


def test_leaderboard_per_game() -> None:
    answer = Client().get("/api/leaderboard?game=paddle")
    assert answer.status_code == 200 and answer.json()["game"] == "paddle"
    assert Client().get("/api/leaderboard").json()["game"] == "arena"
    bad = Client().get("/api/leaderboard?game=chess")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_game"


async def test_two_paddle_players_see_each_others_inputs() -> None:
    a, a_id = await paddle_player("pad-live", "amy")
    b, b_id = await paddle_player("pad-live", "bob", query="")  # the room's game: paddle
    await a.until(lambda f: f["t"] == "snap" and b_id in a.world["paddles"])
    await b.until(lambda f: f["t"] == "snap" and a_id in b.world["paddles"])
    assert b.state is not None
    a_start, b_start = b.state["paddles"][a_id][0], b.state["paddles"][b_id][0]
    for seq in range(1, 31):
        await a.send({"t": "input", "seq": seq, "dir": 1})
        await b.send({"t": "input", "seq": seq, "dir": -1})
    await b.until(lambda f: f["t"] == "snap" and b.world["paddles"][a_id][0] > a_start)
    await a.until(lambda f: f["t"] == "snap" and a.world["paddles"][b_id][0] < b_start)
    await a.until(lambda f: f["t"] == "snap" and f["acks"].get(a_id, -1) >= 1)
    from gameserver.manager import get_manager

    engine = get_manager().engines["pad-live"]
    assert engine.game_id == "paddle" and engine.settings.tick_rate == 60
    assert await sync_to_async(lambda: Room.objects.get(name="pad-live").game)() == "paddle"
    await a.disconnect()
    await b.disconnect()


async def test_an_input_of_another_games_schema_is_an_error_frame_naming_the_field() -> None:
    a, _ = await paddle_player("pad-err", "eve")
    await a.until(lambda f: f["t"] == "snap")
    await a.send({"t": "input", "seq": 1, "mx": 1.0, "my": 0.0, "aim": 0.0, "fire": False})
    error = await a.error()
    assert error["code"] == "invalid" and error["message"].startswith("dir:"), error
    await a.send({"t": "input", "seq": 2, "dir": 7})
    error = await a.error()
    assert error["code"] == "invalid" and error["message"].startswith("dir:"), error
    await a.send({"t": "ping", "id": 5})  # the socket stays open
    assert (await a.until(lambda f: f["t"] == "pong"))["id"] == 5
    # And the arena refuses a paddle input the same way.
    _, token = await new_guest("ari")
    arena = GameClient("arena-err", token)
    assert (await arena.connect())["game"] == "arena"
    await arena.send({"t": "input", "seq": 1, "dir": 1})
    error = await arena.error()
    assert error["code"] == "invalid" and error["message"].startswith("mx:"), error
    await arena.disconnect()
    await a.disconnect()


async def test_a_socket_naming_an_unknown_or_another_game_is_refused() -> None:
    _, token = await new_guest("una")
    unknown = GameClient("nogame", token, "game=chess")
    frame = await unknown.connect()
    assert frame["t"] == "error" and frame["code"] == "unknown_game", frame
    assert await unknown.closed() == 4003
    assert not await sync_to_async(Room.objects.filter(name="nogame").exists)()
    a, _ = await paddle_player("pad-wrong", "wes")
    _, token = await new_guest("wil")
    wrong = GameClient("pad-wrong", token, "game=arena")
    frame = await wrong.connect()
    assert frame["t"] == "error" and frame["code"] == "wrong_game", frame
    assert "paddle" in frame["message"]
    assert await wrong.closed() == 4003
    await a.until(lambda f: f["t"] == "snap")  # the room plays on
    await a.disconnect()


async def test_checkpoints_name_their_game_and_restore_it() -> None:
    from gameserver.manager import get_manager
    from gameserver.room import unpack_checkpoint

    a, a_id = await paddle_player("pad-ck", "cat")
    await a.until(lambda f: f["t"] == "snap")
    engine = get_manager().engines["pad-ck"]
    blob = engine.checkpoint()
    game_id, data = unpack_checkpoint(blob, "arena")
    assert game_id == "paddle"
    restored = games.get(game_id).restore(data, False)
    assert restored.player_ids() == [a_id]
    # A bare (pre-envelope) checkpoint is the default game's.
    arena_match = games.get("arena").new_match(1)
    assert unpack_checkpoint(arena_match.checkpoint(), "arena")[0] == "arena"
    await a.disconnect()


def test_metrics_phase_labels_are_the_games_phases() -> None:
    from gameserver import metrics

    assert metrics.label_phases() == games.all_phases()
    assert set(metrics.label_phases()) >= set(games.get("paddle").info.phases)
