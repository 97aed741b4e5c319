"""Match history and the leaderboard, from persisted results.

`record_match(room, duration_s, results)` is called by the runtime (through
`arecord_match` from a background task) when a match ends. `results` is a
list of `{"player_id", "name", "kills", "deaths", "score", "place"}`. It
stores a `MatchResult` with one `MatchPlayer` per entry, then sends each
player a notification of kind `match_result` with
`{"room", "place", "players", "score"}`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lobby import notifications, push
from lobby.models import MatchPlayer, MatchResult, User


class PlayerResult(BaseModel):
    """One line of a finished match, as the runtime reports it."""

    model_config = ConfigDict(extra="ignore")
    player_id: int
    name: str = Field(max_length=200)
    kills: int = Field(ge=0)
    deaths: int = Field(ge=0)
    score: int
    place: int = Field(ge=1)


_RESULTS = TypeAdapter(list[PlayerResult])


def record_match(room: str, duration_s: float, results: list[dict[str, Any]]) -> MatchResult:
    """Persist a finished match and notify each player of their placement.

    Raises pydantic.ValidationError / ValueError on malformed input (the
    runtime's bug, not a player's); nothing is stored then.
    """
    lines = _RESULTS.validate_python(results)
    if not 0 <= float(duration_s) < 366 * 86_400:
        raise ValueError("duration_s out of range")
    known = set(
        User.objects.filter(pk__in=[r.player_id for r in lines]).values_list("pk", flat=True)
    )
    ended = timezone.now()
    with transaction.atomic():
        match = MatchResult.objects.create(
            room=room[:64], started_at=ended - timedelta(seconds=float(duration_s)),
            ended_at=ended, duration_s=float(duration_s),
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
            notifications.notify(
                r.player_id, "match_result",
                {"room": room, "place": r.place, "players": len(lines), "score": r.score},
            )
    return match


async def arecord_match(
    room: str, duration_s: float, results: list[dict[str, Any]]
) -> MatchResult:
    """`record_match` from async code."""
    return await push.run_sync(record_match, room, duration_s, results)


def match_dict(match: MatchResult) -> dict[str, Any]:
    return {
        "id": match.pk,
        "room": match.room,
        "started_at": push.iso(match.started_at),
        "ended_at": push.iso(match.ended_at),
        "duration_s": match.duration_s,
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


def leaderboard(limit: int, by: str = "kills") -> list[dict[str, Any]]:
    """Players ranked by total kills (then wins) or by wins (then kills)."""
    order = ["-kills", "-wins"] if by == "kills" else ["-wins", "-kills"]
    rows = (
        MatchPlayer.objects.filter(user__isnull=False)
        .values("user_id", "user__display_name", "user__username")
        .annotate(
            kills=Sum("kills"), deaths=Sum("deaths"), score=Sum("score"),
            wins=Count("id", filter=Q(place=1)), matches=Count("id"),
        )
        .order_by(*order, "user_id")[:limit]
    )
    return [
        {
            "rank": i,
            "user": {"id": r["user_id"], "name": r["user__display_name"] or r["user__username"]},
            "kills": r["kills"], "deaths": r["deaths"], "score": r["score"],
            "wins": r["wins"], "matches": r["matches"],
        }
        for i, r in enumerate(rows, start=1)
    ]
