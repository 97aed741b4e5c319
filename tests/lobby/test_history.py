"""Match history and leaderboard from persisted results; placement notifications.

Ratings and notifications are the `match.finished` task's work (lobby/tasks.py):
sync tests run the task with `run_tasks()`, async ones through the embedded worker.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gameserver import workers
from lobby import history, tasks
from lobby.models import MatchPlayer, MatchResult, Notification, Task
from tests.lobby.helpers import LobbyClient, anew_user, assert_error, make_user

pytestmark = pytest.mark.django_db
TX = pytest.mark.django_db(transaction=True)


def run_tasks() -> list[str]:
    """Run every pending task once, as a worker would (without its pushes)."""
    ids = list(Task.objects.filter(status=Task.PENDING).values_list("pk", flat=True))
    return [tasks.execute(i)[0] for i in ids]


def line(
    user_id: int, name: str, kills: int, deaths: int, score: int, place: int
) -> dict[str, Any]:
    return {"player_id": user_id, "name": name, "kills": kills, "deaths": deaths,
            "score": score, "place": place}


def test_record_match_stores_lines_and_notifies_each_player() -> None:
    a, b = make_user("ann")[0], make_user("bob")[0]
    match = history.record_match("arena-1", 120.5, [
        line(a.pk, "ann", 5, 1, 50, 1), line(b.pk, "bob", 1, 5, 10, 2),
    ])
    assert MatchResult.objects.get().pk == match.pk
    assert match.duration_s == 120.5
    assert (match.ended_at - match.started_at).total_seconds() == pytest.approx(120.5)
    assert list(MatchPlayer.objects.values_list("name", "place")) == [("ann", 1), ("bob", 2)]
    assert not Notification.objects.exists()  # the worker's job, after the commit
    task = Task.objects.get()
    assert (task.kind, task.payload, task.status) == ("match.finished", {"match_id": match.pk},
                                                      "pending")
    assert run_tasks() == ["done"]
    note = Notification.objects.get(user=b)
    assert note.kind == "match_result"
    rating = note.data.pop("rating")
    assert rating < 0 and note.data.pop("rating_change") == rating  # from 0, the loser
    assert note.data == {"room": "arena-1", "place": 2, "players": 2, "score": 10,
                         "match": match.pk}
    assert Notification.objects.get(user=a).data["rating"] > 0
    assert run_tasks() == []  # done: nothing runs twice
    assert Notification.objects.count() == 2


@TX
async def test_arecord_match_pushes_the_placement_live() -> None:
    ann, token = await anew_user("ann")
    tab = await LobbyClient(token).connect()
    workers.ensure_embedded()  # as the server does on its first request
    match = await history.arecord_match("r", 30.0, [line(ann.pk, "ann", 2, 0, 20, 1)])
    frame = await tab.of_type("notification")
    assert frame["kind"] == "match_result"
    assert frame["data"] == {"room": "r", "place": 1, "players": 1, "score": 20,
                             "match": match.pk, "rating": 0.0, "rating_change": 0.0}
    await tab.disconnect()
    await workers.stop_embedded()


@pytest.mark.parametrize(
    "results",
    [
        [{"player_id": 1}],
        [{"player_id": "x", "name": "a", "kills": 0, "deaths": 0, "score": 0, "place": 1}],
        [{"player_id": 1, "name": "a", "kills": -1, "deaths": 0, "score": 0, "place": 1}],
        [{"player_id": 1, "name": "a", "kills": 0, "deaths": 0, "score": 0, "place": 0}],
        "nope",
    ],
)
def test_record_match_refuses_malformed_results(results: Any) -> None:
    with pytest.raises(ValueError):
        history.record_match("r", 10, results)
    assert not MatchResult.objects.exists()


def test_unknown_players_are_kept_by_name_without_a_notification() -> None:
    history.record_match("r", 10, [line(999_999, "bot", 1, 0, 1, 1)])
    assert MatchPlayer.objects.get().user_id is None
    assert run_tasks() == ["done"]
    assert not Notification.objects.exists()


def test_matches_endpoint_pages_newest_first_and_filters_by_user() -> None:
    a, b = make_user("ann")[0], make_user("bob")[0]
    ids = []
    for i in range(5):
        players = [line(a.pk, "ann", i, 0, i, 1)]
        if i % 2 == 0:
            players.append(line(b.pk, "bob", 0, i, 0, 2))
        ids.append(history.record_match(f"r{i}", 60, players).pk)
    client = Client()
    page = client.get("/api/matches?limit=2").json()
    assert [m["id"] for m in page["matches"]] == [ids[4], ids[3]]
    assert page["next_before"] == ids[3]
    first = page["matches"][0]
    assert first["room"] == "r4" and first["duration_s"] == 60
    assert first["players"][0] == {"user_id": a.pk, "name": "ann", "kills": 4, "deaths": 0,
                                   "score": 4, "place": 1}
    assert first["ended_at"].endswith("Z")
    rest = client.get(f"/api/matches?limit=2&before={page['next_before']}").json()
    assert [m["id"] for m in rest["matches"]] == [ids[2], ids[1]]
    bobs = client.get(f"/api/matches?user={b.pk}").json()
    assert [m["id"] for m in bobs["matches"]] == [ids[4], ids[2], ids[0]]
    assert bobs["next_before"] is None


def test_leaderboard_by_kills_and_by_wins() -> None:
    a, b, c = (make_user(n)[0] for n in ("ann", "bob", "cat"))
    history.record_match("r", 60, [line(a.pk, "ann", 3, 0, 3, 1), line(b.pk, "bob", 9, 1, 9, 2)])
    history.record_match("r", 60, [line(a.pk, "ann", 2, 0, 2, 1), line(c.pk, "cat", 1, 1, 1, 2)])
    board = Client().get("/api/leaderboard").json()
    assert board["by"] == "kills"
    assert [(p["user"]["name"], p["kills"]) for p in board["players"]] == [
        ("bob", 9), ("ann", 5), ("cat", 1)]
    assert board["players"][1] == {"rank": 2, "user": {"id": a.pk, "name": "ann"}, "kills": 5,
                                   "deaths": 0, "score": 5, "wins": 2, "matches": 2,
                                   "rating": 0.0}
    wins = Client().get("/api/leaderboard?by=wins&limit=1").json()
    assert [p["user"]["name"] for p in wins["players"]] == ["ann"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/matches?limit=0", "/api/matches?limit=500", "/api/matches?before=x",
        "/api/matches?user=abc", "/api/matches?user=-3", "/api/leaderboard?limit=nope",
        "/api/leaderboard?by=deaths", "/api/leaderboard?limit=0",
    ],
)
def test_history_bad_params(path: str) -> None:
    assert_error(Client().get(path), 400, "invalid")


def test_history_wrong_methods() -> None:
    assert_error(Client().post("/api/matches"), 405, "method_not_allowed")
    assert_error(Client().post("/api/leaderboard"), 405, "method_not_allowed")


def test_ratings_follow_placements_and_the_board_ranks_by_mu_minus_3_sigma() -> None:
    from openskill.models import PlackettLuce

    from lobby.models import PlayerStats

    a, b, c = (make_user(n)[0] for n in ("ann", "bob", "cat"))
    history.record_match("r", 60, [line(c.pk, "cat", 0, 2, 0, 3), line(a.pk, "ann", 3, 0, 3, 1),
                                   line(b.pk, "bob", 1, 1, 1, 2)])
    assert Client().get("/api/leaderboard?by=rating").json()["players"] == []  # not rated yet
    assert run_tasks() == ["done"]
    model = PlackettLuce()
    expected = model.rate([[model.rating()], [model.rating()], [model.rating()]], ranks=[1, 2, 3])
    for user, [want] in zip((a, b, c), expected, strict=True):
        stats = PlayerStats.objects.get(user=user, game="arena")
        assert stats.mu == pytest.approx(want.mu) and stats.sigma == pytest.approx(want.sigma)
        assert stats.rating == pytest.approx(want.mu - 3 * want.sigma)
        assert stats.rated_matches == 1
    board = Client().get("/api/leaderboard?by=rating").json()
    assert board["by"] == "rating"
    assert [p["user"]["name"] for p in board["players"]] == ["ann", "bob", "cat"]
    assert board["players"][0]["rating"] == round(expected[0][0].ordinal(), 2)
    kills = Client().get("/api/leaderboard").json()["players"]
    assert [p["rating"] for p in kills] == [p["rating"] for p in board["players"]]


def test_a_tie_shares_the_place_and_the_rating() -> None:
    from lobby.models import PlayerStats

    a, b = make_user("ann")[0], make_user("bob")[0]
    history.record_match("r", 60, [line(a.pk, "ann", 0, 0, 0, 1), line(b.pk, "bob", 0, 0, 0, 1)])
    run_tasks()
    ann, bob = (PlayerStats.objects.get(user=u) for u in (a, b))
    assert ann.mu == pytest.approx(bob.mu) == pytest.approx(25.0)
    assert ann.sigma < 25 / 3 and ann.rating == pytest.approx(bob.rating)
