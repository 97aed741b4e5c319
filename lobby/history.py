"""Match history and the leaderboard, from persisted results.

`record_match(room, duration_s, results)` is called by the runtime (through
`arecord_match` from a background task) when a match ends. `results` is a
list of `{"player_id", "name", "kills", "deaths", "score", "place"}`. In ONE
transaction it stores a `MatchResult` with one `MatchPlayer` per entry, adds
the lines to each known player's `PlayerStats` totals, and writes the outbox
task `match.finished`; `arecord_match` then sends the task. The worker
(lobby/tasks.py) updates the ratings and sends each player a notification of
kind `match_result` with `{"room", "place", "players", "score", "match",
"rating", "rating_change"}` (docs/tasks.md).

The leaderboard reads the stored `PlayerStats` figures, never aggregating
matches per request.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from engine.recording import Recording
from lobby import outbox, push, ratings, replays
from lobby.models import DEFAULT_GAME, MatchPlayer, MatchResult, PlayerStats, Room, User


class PlayerResult(BaseModel):
    """One line of a finished match, as the runtime reports it."""

    model_config = ConfigDict(extra="ignore")
    player_id: int
    name: str = Field(max_length=200)
    kills: int = Field(default=0, ge=0)
    deaths: int = Field(default=0, ge=0)
    score: int
    place: int = Field(ge=1)


logger = logging.getLogger(__name__)

_RESULTS = TypeAdapter(list[PlayerResult])


def store_match(
    room: str, duration_s: float, results: list[dict[str, Any]], game: str = DEFAULT_GAME,
    recording: Recording | None = None,
) -> tuple[MatchResult, int]:
    """Persist a finished match, its players' totals and its `match.finished` task at once;
    returns the match and the task's id (send it with `outbox.asend`, or leave it to
    the sweeper). A `recording` is saved first (lobby/replays.py) and linked to the
    match in the same transaction; if that transaction fails the file is deleted.

    Raises pydantic.ValidationError / ValueError on malformed input (the
    runtime's bug, not a player's); nothing is stored then.
    """
    lines = _RESULTS.validate_python(results)
    if not 0 <= float(duration_s) < 366 * 86_400:
        raise ValueError("duration_s out of range")
    if len({r.player_id for r in lines}) != len(lines):
        raise ValueError("a player appears twice in the results")
    known = set(
        User.objects.filter(pk__in=[r.player_id for r in lines]).values_list("pk", flat=True)
    )
    replay = ""
    if recording is not None:
        try:
            replay = replays.save(recording)
        except Exception:  # the match counts without its replay
            logger.exception("room %s: could not store the match's recording", room)
    try:
        return _store(room, duration_s, lines, known, game, replay)
    except BaseException:
        if replay:
            replays.delete(replay)
        raise


def _store(room: str, duration_s: float, lines: list[PlayerResult], known: set[int], game: str,
           replay: str) -> tuple[MatchResult, int]:
    ended = timezone.now()
    private = Room.objects.filter(name=room).values_list("private", flat=True).first()
    with transaction.atomic():
        match = MatchResult.objects.create(
            room=room[:64], game=game[:32], started_at=ended - timedelta(seconds=float(duration_s)),
            ended_at=ended, duration_s=float(duration_s), replay=replay, private=bool(private),
        )
        MatchPlayer.objects.bulk_create(
            MatchPlayer(
                match=match, user_id=r.player_id if r.player_id in known else None,
                name=r.name[:24], kills=r.kills, deaths=r.deaths, score=r.score, place=r.place,
            )
            for r in lines
        )
        for r in lines:
            if r.player_id in known:
                PlayerStats.objects.get_or_create(user_id=r.player_id, game=game)
                PlayerStats.objects.filter(user_id=r.player_id, game=game).update(
                    matches=F("matches") + 1, wins=F("wins") + int(r.place == 1),
                    kills=F("kills") + r.kills, deaths=F("deaths") + r.deaths,
                    score=F("score") + r.score, updated_at=ended,
                )
        task_id = outbox.enqueue("match.finished", {"match_id": match.pk})
    return match, task_id


def record_match(
    room: str, duration_s: float, results: list[dict[str, Any]], game: str = DEFAULT_GAME
) -> MatchResult:
    """`store_match` without sending the task (the sweeper will)."""
    return store_match(room, duration_s, results, game)[0]


async def arecord_match(
    room: str, duration_s: float, results: list[dict[str, Any]], game: str = DEFAULT_GAME,
    recording: Recording | None = None,
) -> MatchResult:
    """`store_match` from async code (a database thread, which also compresses and saves
    the recording), then its task is sent to the workers."""
    match, task_id = await push.run_sync(store_match, room, duration_s, results, game,
                                         recording)
    await outbox.asend([task_id])
    return match


def match_dict(match: MatchResult) -> dict[str, Any]:
    return {
        "id": match.pk,
        "room": match.room,
        "game": match.game,
        "started_at": push.iso(match.started_at),
        "ended_at": push.iso(match.ended_at),
        "duration_s": match.duration_s,
        "replay": f"/api/matches/{match.pk}/replay" if match.replay else None,
        "players": [
            {
                "user_id": p.user_id, "name": p.name, "kills": p.kills,
                "deaths": p.deaths, "score": p.score, "place": p.place,
            }
            for p in match.players.all()
        ],
    }


def matches(user_id: int | None, limit: int, before: int | None) -> dict[str, Any]:
    """Newest first: `{"matches": [...], "next_before": id|None}`."""
    query: QuerySet[MatchResult] = MatchResult.objects.all()
    if user_id is not None:
        query = query.filter(players__user_id=user_id)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = list(query.order_by("-id").prefetch_related("players")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "matches": [match_dict(m) for m in rows],
        "next_before": rows[-1].pk if more and rows else None,
    }


LEADERBOARD_ORDER = {
    "kills": ["-kills", "-wins"],
    "wins": ["-wins", "-kills"],
    "rating": ["-rating", "-wins"],
}
"""The `by` values of the leaderboard and their ordering (ties: lower user id first)."""


def leaderboard(limit: int, by: str = "kills", game: str = DEFAULT_GAME) -> list[dict[str, Any]]:
    """Players ranked by total kills (then wins), by wins (then kills), or by the
    conservative rating `mu - 3 sigma` (then wins; only players with a rated match).

    Read from the stored `PlayerStats` rows of players with at least one match.
    """
    query = PlayerStats.objects.filter(game=game, matches__gt=0)
    if by == "rating":
        query = query.filter(rated_matches__gt=0)
    rows = (
        query.select_related("user")
        .order_by(*LEADERBOARD_ORDER[by], "user_id")[:limit]
    )
    return [
        {
            "rank": i,
            "user": {"id": r.user_id, "name": r.user.display_name or r.user.username},
            "kills": r.kills, "deaths": r.deaths, "score": r.score,
            "wins": r.wins, "matches": r.matches, "rating": ratings.shown(r.rating),
        }
        for i, r in enumerate(rows, start=1)
    ]
