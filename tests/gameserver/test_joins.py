"""Joining a game room: what one join costs the database, and what it still guarantees.

A game socket with a bearer token is seated by one database call
(`lobby.rooms.join`): the token's user, the room and the seat, in one
transaction, on the runtime's kept connection (lobby/dbconn.py). These tests
pin the cost (queries per join, connections per join) so a regression fails,
and the guarantees that must survive it: a revoked token is refused by the
next socket at once, and two sockets racing for the last seat never both get in.
Joins that queue together share one call (`lobby.rooms.join_many`, through
gameserver/joins.py): each still gets the answer it would have got alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from channels.db import database_sync_to_async as db
from django.conf import settings as django_settings
from django.db import DatabaseError, connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gameserver import joins
from lobby import rooms, signals, tokens
from lobby.accounts import create_guest, revoke_tokens
from lobby.models import Room, Seat, User
from tests.gameserver.game_client import GameClient, new_guest

pytestmark = pytest.mark.django_db(transaction=True)
T = TypeVar("T")
# Async tests read the database through database_sync_to_async, which closes
# the connection after each call (Django's async ORM methods leave it open,
# and PostgreSQL then refuses to drop the test database).


@pytest.fixture
def list_changes() -> Iterator[list[str | None]]:
    """The room-list changes signalled; the push itself (deferred and debounced on
    the event loop in the runtime, at once in a plain sync test) is left out."""
    from gameserver.roomlist import on_room_list_changed

    heard: list[str | None] = []

    def hear(sender: Any, room: str | None = None, **kwargs: Any) -> None:
        heard.append(room)

    signals.room_list_changed.disconnect(dispatch_uid="arena-room-list-push")
    signals.room_list_changed.connect(hear, weak=False, dispatch_uid="test-joins-hear")
    try:
        yield heard
    finally:
        signals.room_list_changed.disconnect(dispatch_uid="test-joins-hear")
        signals.room_list_changed.connect(on_room_list_changed, weak=False,
                                          dispatch_uid="arena-room-list-push")


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """The SQL statements run, without transaction control (logged on SQLite only)."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [q["sql"] for q in queries.captured_queries
            if not q["sql"].lstrip().upper().startswith(control)]


def _guest_claims(name: str) -> tuple[User, tokens.Claims]:
    user = create_guest(name)
    return user, tokens.claims(tokens.issue(user))


def _race(work: Callable[[T], list[str]], args: list[T]) -> list[str]:
    """`work(arg)` for every arg at once, a thread each (its own connection); all outcomes."""
    outcomes: list[str] = []
    start = threading.Barrier(len(args))

    def run(arg: T) -> None:
        start.wait(5)
        try:
            outcomes.extend(work(arg))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


# What a join costs --------------------------------------------------------------------


def test_a_player_joining_an_open_room_costs_four_queries(
        list_changes: list[str | None]) -> None:
    _, first_claims = _guest_claims("a")
    rooms.join("q1", first_claims)  # opens the room
    second, second_claims = _guest_claims("b")
    list_changes.clear()
    with CaptureQueriesContext(connection) as queries:
        user, room = rooms.join("q1", second_claims)
    sql = _statements(queries)
    # The token's user, the locked room row, its seats, the new seat.
    assert len(sql) == 4, "\n".join(sql)
    assert [s.split()[0] for s in sql] == ["SELECT", "SELECT", "SELECT", "INSERT"]
    assert '"lobby_user"' in sql[0] and '"lobby_seat"' in sql[3]
    assert user.pk == second.pk and room.name == "q1"
    assert Seat.objects.filter(room=room, joined=True).count() == 2
    assert list_changes == ["q1"]  # the room list hears of the new player


def test_coming_back_to_a_held_seat_writes_nothing(list_changes: list[str | None]) -> None:
    user, claims = _guest_claims("a")
    rooms.join("q2", claims)
    list_changes.clear()
    with CaptureQueriesContext(connection) as queries:
        rooms.join("q2", claims)
    sql = _statements(queries)
    assert len(sql) == 3, "\n".join(sql)
    assert all(s.lstrip().upper().startswith("SELECT") for s in sql)
    assert Seat.objects.filter(user=user).count() == 1
    assert list_changes == []


def test_a_refused_seat_undoes_the_room_it_opened() -> None:
    user = create_guest("a")
    creator = create_guest("owner")
    rooms.create_room(creator, "priv", private=True)
    rooms.close_room("priv")
    # A closed private room is reopened public by a join: the join and the
    # seat are one transaction, so a refused seat leaves nothing behind.
    rooms.join("priv", user)
    assert not Room.objects.get(name="priv").private
    with pytest.raises(rooms.RoomError) as refused:
        rooms.join("priv", user, game="no-such-game")
    assert refused.value.code == "unknown_game"
    assert Seat.objects.filter(room__name="priv").count() == 1


async def test_game_sockets_reuse_one_database_connection() -> None:
    opened: list[Any] = []

    def count(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(connection)

    _, first_token = await new_guest("a")
    _, second_token = await new_guest("b")
    first = GameClient("q3", first_token)
    assert (await first.connect())["t"] == "welcome"
    connection_created.connect(count)
    try:
        second = GameClient("q3", second_token)
        assert (await second.connect())["t"] == "welcome"
    finally:
        connection_created.disconnect(count)
    # The second join opened no connection: the runtime's thread kept its own
    # (before, each of a join's three database calls opened and closed one).
    assert opened == []
    await first.disconnect()
    await second.disconnect()


# What a join still guarantees ----------------------------------------------------------


async def test_a_revoked_token_is_refused_by_the_next_game_socket_at_once() -> None:
    user_id, token = await new_guest("rex")
    ok = GameClient("q4", token)
    assert (await ok.connect())["t"] == "welcome"
    await ok.disconnect()
    user = await db(User.objects.get)(pk=user_id)
    await db(revoke_tokens)(user)
    again = GameClient("q4", token)
    refused = await again.connect()
    assert refused["t"] == "error" and refused["code"] == "bad_token"
    assert await again.closed() == 4001
    # A fresh token of the same user works: the key rotated, the user did not change.
    fresh = GameClient("q4", await db(tokens.issue)(user))
    assert (await fresh.connect())["t"] == "welcome"
    await fresh.disconnect()


async def test_a_deactivated_user_is_refused_and_a_forged_token_never_reaches_the_database(
) -> None:
    user_id, token = await new_guest("gone")
    await db(User.objects.filter(pk=user_id).update)(is_active=False)
    gone = GameClient("q5", token)
    assert (await gone.connect())["code"] == "bad_token"
    assert await gone.closed() == 4001
    forged = GameClient("q5", token[:-4] + "AAAA")
    assert (await forged.connect())["code"] == "bad_token"
    assert await forged.closed() == 4001
    # Neither got a seat, nor opened the room.
    assert not await db(Seat.objects.filter(room__name="q5").exists)()


async def test_two_sockets_racing_for_the_last_seat_one_gets_in(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"max_players_per_room": 2})
    _, first_token = await new_guest("a")
    first = GameClient("q6", first_token)
    assert (await first.connect())["t"] == "welcome"
    racers = [GameClient("q6", (await new_guest(n))[1]) for n in ("b", "c")]
    answers = await asyncio.gather(*(r.connect() for r in racers))
    assert sorted(a["t"] if a["t"] == "welcome" else a["code"] for a in answers) == [
        "room_full", "welcome"]
    assert await db(Seat.objects.filter(room__name="q6", joined=True).count)() == 2
    for racer, answer in zip(racers, answers, strict=True):
        if answer["t"] == "welcome":
            await racer.disconnect()
        else:
            assert await racer.closed() == 4003
    await first.disconnect()


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="the SQLite test database is shared-cache in-memory (table locks, no busy wait); "
    "on SQLite the socket race above covers it",
)
def test_threads_racing_for_the_last_seat_one_gets_in(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"max_players_per_room": 1})
    rooms.open_room("q7")
    users = [create_guest(f"p{i}") for i in range(4)]

    def join(user: User) -> list[str]:
        try:
            rooms.join("q7", user)
        except rooms.RoomError as exc:
            return [exc.code]
        return ["seated"]

    assert sorted(_race(join, users)) == ["room_full"] * 3 + ["seated"]
    assert Seat.objects.filter(room__name="q7").count() == 1


# Joins taken together ------------------------------------------------------------------


def _codes(results: list[rooms.JoinResult]) -> list[str]:
    return [r.code if isinstance(r, rooms.RoomError | tokens.TokenError) else
            "seated" if isinstance(r, tuple) else repr(r) for r in results]


def test_joins_taken_together_answer_each_as_if_alone(
        settings: Any, list_changes: list[str | None]) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"max_players_per_room": 2})
    (a, ca), (b, cb), (_, cc), (d, cd), (e, ce), (_, cf), (r, cr) = (
        _guest_claims(n) for n in "abcdefr")
    revoke_tokens(r)
    club = rooms.create_room(create_guest("owner"), "club", private=True)
    list_changes.clear()
    batch = [
        rooms.JoinRequest("b-room", ca),  # opens it
        rooms.JoinRequest("b-room", cb),
        rooms.JoinRequest("b-room", cc),  # the third of two seats
        rooms.JoinRequest("b-room", ca),  # a second socket keeps the first's seat
        rooms.JoinRequest("b-room", cr),  # revoked
        rooms.JoinRequest("club", cd),  # private, no invite
        rooms.JoinRequest("club", cd, invite=club.invite_code),
        rooms.JoinRequest("bad name", ce),
        rooms.JoinRequest("b-room", ce, game="chess"),
        rooms.JoinRequest("a-room", ce, game="paddle"),  # opens it, running paddle
        rooms.JoinRequest("a-room", cf, game="arena"),
    ]
    with CaptureQueriesContext(connection) as queries:
        results = rooms.join_many(batch)
    assert _codes(results) == [
        "seated", "seated", "room_full", "seated", "bad_token", "private", "seated",
        "bad_name", "unknown_game", "seated", "wrong_game"]
    seated = [res for res in results if isinstance(res, tuple)]
    assert [u.pk for u, _ in seated] == [a.pk, b.pk, a.pk, d.pk, e.pk]
    assert [room.name for _, room in seated] == ["b-room", "b-room", "b-room", "club", "a-room"]
    assert {(s.room.name, s.user_id) for s in Seat.objects.select_related("room")} == {
        ("b-room", a.pk), ("b-room", b.pk), ("club", d.pk), ("a-room", e.pk)}
    assert Room.objects.get(name="a-room").game == "paddle"
    sql = _statements(queries)
    # One query for every token's user, one read of every room's seats, one
    # insert of the new seats; each room locked once, in name order.
    assert sum('"lobby_user"' in s for s in sql) == 1, "\n".join(sql)
    assert sum(s.startswith("SELECT") and 'FROM "lobby_seat"' in s for s in sql) == 1
    assert sum(s.startswith('INSERT INTO "lobby_seat"') for s in sql) == 1
    locked = [name for s in sql if s.startswith('SELECT') and 'FROM "lobby_room"' in s
              for name in ("a-room", "b-room", "club") if f"'{name}'" in s]
    assert locked == ["a-room", "b-room", "club"], "\n".join(sql)
    assert sorted(n for n in list_changes if n is not None) == ["a-room", "b-room", "club"]


def test_a_refused_join_in_a_batch_writes_nothing(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"max_players_per_room": 1})
    holder, _ = _guest_claims("h")
    late, late_claims = _guest_claims("late")
    rooms.join("full", holder)
    room = Room.objects.get(name="full")
    Seat.objects.create(room=room, user=late, joined=False,
                        reserved_until=timezone.now() - timedelta(seconds=1))
    _, other_claims = _guest_claims("o")
    results = rooms.join_many([rooms.JoinRequest("full", late_claims),
                               rooms.JoinRequest("full", other_claims)])
    assert _codes(results) == ["room_full", "room_full"]
    # The expired reservation a successful join would have cleared is still there.
    assert Seat.objects.filter(room=room).count() == 2


def test_a_batch_that_fails_is_joined_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    (a, ca), (b, cb), (r, cr) = (_guest_claims(n) for n in "abr")
    revoke_tokens(r)
    whole = rooms._join_all

    def lose_batches(requests: Any) -> Any:
        if len(requests) > 1:
            raise DatabaseError("connection lost")
        return whole(requests)

    monkeypatch.setattr(rooms, "_join_all", lose_batches)
    results = rooms.join_many([rooms.JoinRequest("one", ca), rooms.JoinRequest("one", cr),
                               rooms.JoinRequest("one", cb)])
    assert _codes(results) == ["seated", "bad_token", "seated"]
    assert set(Seat.objects.values_list("user_id", flat=True)) == {a.pk, b.pk}


async def test_joins_waiting_together_go_in_one_database_call(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"max_players_per_room": 3})
    players = [await db(_guest_claims)(n) for n in "abcdef"]
    queue = joins.queues.get()
    before = queue.batches
    waiting = [asyncio.ensure_future(joins.ajoin("qb", claims)) for _, claims in players]
    await asyncio.sleep(0)  # every socket has queued; the batch has not started
    waiting[1].cancel()  # this socket went away: it takes no seat
    answers = await asyncio.gather(*waiting, return_exceptions=True)
    assert queue.batches == before + 1
    assert isinstance(answers[1], asyncio.CancelledError)
    assert [u.pk for u, _ in answers[:1] + answers[2:4]] == [  # type: ignore[misc]
        players[0][0].pk, players[2][0].pk, players[3][0].pk]
    assert [getattr(x, "code", None) for x in answers[4:]] == ["room_full", "room_full"]
    seated = await db(lambda: set(Seat.objects.filter(room__name="qb").values_list(
        "user_id", flat=True)))()
    assert seated == {players[i][0].pk for i in (0, 2, 3)}


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="the SQLite test database is shared-cache in-memory (table locks, no busy wait); "
    "on SQLite one process's joins all go through its one database thread",
)
def test_batches_racing_for_the_same_rooms_never_overfill_them(
        settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    # Two processes' batches naming the same rooms in opposite orders: each
    # room's lock makes the capacity check hold across them, and locking in
    # name order means neither waits for the other in a cycle.
    settings.ARENA = settings.ARENA.model_copy(update={"max_players_per_room": 2})
    rooms.open_room("race-a")
    rooms.open_room("race-b")
    claims = [_guest_claims(f"p{i}")[1] for i in range(6)]
    batches = [
        [rooms.JoinRequest(name, c) for name, c in zip(
            ("race-b", "race-a", "race-b"), claims[:3], strict=True)],
        [rooms.JoinRequest(name, c) for name, c in zip(
            ("race-a", "race-b", "race-a"), claims[3:], strict=True)],
    ]
    answers = _race(lambda batch: _codes(rooms.join_many(batch)), batches)
    assert sorted(answers) == ["room_full"] * 2 + ["seated"] * 4
    for name in ("race-a", "race-b"):
        assert Seat.objects.filter(room__name=name, joined=True).count() == 2
    assert "joins failed" not in caplog.text
