"""Skill-based matchmaking (lobby/matchmaking.py `matchmake_skill`, docs/protocol.md):
rooms whose players' mean rating is close come first, the band widens with
waiting, and no player waits beside a free seat once the band is widest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings, strategies

from lobby import matchmaking, rooms
from lobby.models import MatchmakingTicket, PlayerStats, Room, User
from tests.lobby.helpers import bearer, make_user, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _band(arena: Any) -> None:
    arena(skill_band_base=5.0, skill_band_growth=1.0, skill_band_max=30.0)


def rated(name: str, rating: float) -> tuple[User, str]:
    user, token = make_user(name)
    PlayerStats.objects.create(user=user, rating=rating, mu=rating + 25, sigma=25 / 3,
                               matches=1, rated_matches=1)
    return user, token


def seat_in(room: str, rating: float, count: int = 1) -> None:
    rooms.open_room(room)
    for i in range(count):
        rooms.claim_seat(room, rated(f"{room}{i}", rating)[0], None)


def ask(token: str, wait: bool = False) -> dict[str, Any]:
    answer = post_json(Client(), "/api/matchmake", {"wait": wait} if wait else {},
                       **bearer(token))
    assert answer.status_code == 200, answer.content
    return dict(answer.json())


def waited(user: User, seconds: float) -> None:
    """As if the user's search had started `seconds` ago (and they kept asking)."""
    now = timezone.now()
    MatchmakingTicket.objects.filter(user=user).update(
        started_at=now - timedelta(seconds=seconds), last_seen=now)


def test_the_band_widens_with_waiting_up_to_its_maximum() -> None:
    assert matchmaking.skill_band(0) == 5.0
    assert matchmaking.skill_band(10) == 15.0
    assert matchmaking.skill_band(25) == matchmaking.skill_band(1000) == 30.0


def test_a_close_room_beats_a_fuller_room_outside_the_band() -> None:
    seat_in("strong", 20.0, count=3)
    seat_in("novice", 1.0, count=1)
    _, token = rated("me", 0.0)
    assert ask(token) == {"room": "novice"}


def test_within_the_band_the_fullest_room_comes_first() -> None:
    seat_in("near", 2.0, count=1)
    seat_in("nearer-but-emptier", 0.5, count=1)
    seat_in("fuller", 4.0, count=2)
    _, token = rated("me", 0.0)
    assert ask(token) == {"room": "fuller"}


def test_a_patient_player_waits_while_the_band_widens_then_takes_the_free_seat() -> None:
    seat_in("far", 20.0, count=2)
    me, token = rated("me", 0.0)
    first = ask(token, wait=True)
    assert first == {"room": None, "retry_after": 1.0, "band": 5.0}
    waited(me, 10)  # band 15: still too far
    assert ask(token, wait=True)["room"] is None
    waited(me, 14)  # band 19… the room's mean is 20
    assert ask(token, wait=True)["room"] is None
    waited(me, 15.5)  # band 20.5
    assert ask(token, wait=True) == {"room": "far"}
    assert not MatchmakingTicket.objects.filter(user=me).exists()


def test_past_the_widest_band_any_free_seat_is_taken() -> None:
    seat_in("very-far", 100.0, count=1)
    me, token = rated("me", 0.0)
    assert ask(token, wait=True)["room"] is None
    waited(me, 25)  # widest (30) and still out of reach: never wait beside a free seat
    assert ask(token, wait=True) == {"room": "very-far"}


def test_without_wait_the_answer_is_always_a_room_the_closest_first() -> None:
    seat_in("far", 100.0, count=3)
    seat_in("less-far", 50.0, count=1)
    _, token = rated("me", 0.0)
    assert ask(token) == {"room": "less-far"}


def test_a_patient_player_with_no_free_seat_anywhere_gets_a_new_room() -> None:
    _, token = rated("me", 0.0)
    room = ask(token, wait=True)["room"]
    assert room is not None and room.startswith("arena-")


def test_a_search_not_renewed_starts_over() -> None:
    seat_in("far", 20.0, count=1)
    me, token = rated("me", 0.0)
    ask(token, wait=True)
    MatchmakingTicket.objects.filter(user=me).update(
        started_at=timezone.now() - timedelta(seconds=60),
        last_seen=timezone.now() - timedelta(seconds=matchmaking.TICKET_TTL_SECONDS + 1))
    assert ask(token, wait=True)["band"] == 5.0  # a new search, not a 60 s wait


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    room_ratings=strategies.lists(strategies.floats(-20, 60), min_size=1, max_size=4),
    mine=strategies.floats(-20, 60),
    wait_s=strategies.floats(0, 40),
)
def test_the_choice_is_in_band_when_any_room_is(
    room_ratings: list[float], mine: float, wait_s: float
) -> None:
    PlayerStats.objects.all().delete()
    User.objects.all().delete()
    Room.objects.all().delete()
    for i, rating in enumerate(room_ratings):
        seat_in(f"r{i}", rating)
    me, token = rated("me", mine)
    ask(token, wait=True)
    waited(me, wait_s)
    band = matchmaking.skill_band(wait_s)
    answer = ask(token, wait=True)
    reachable = {f"r{i}" for i, r in enumerate(room_ratings) if abs(r - mine) <= band}
    if answer["room"] is None:
        assert not reachable and band < 30.0
    elif reachable:
        assert answer["room"] in reachable
    else:
        assert band >= 30.0 or answer["room"] is None
