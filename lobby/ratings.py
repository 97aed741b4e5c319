"""Skill ratings: openskill's Plackett-Luce model (Weng-Lin) over free-for-all placements.

Each player has, per game, a `PlayerStats` row with `mu` (estimated skill)
and `sigma` (uncertainty); a new player starts at mu 25, sigma 25/3. The
figure shown and ranked is the conservative `rating = mu - 3 * sigma` (0 for
a new player), which rises as the system grows sure of a player.

`rate_match(match_id)` runs inside the task worker's transaction (the task
`match.finished`, lobby/tasks.py): it updates every known player's rating
from the match's placements (ties share a place), stores one `match_result`
notification per known player, and returns those notifications for the
caller to push after the commit.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone
from openskill.models import PlackettLuce

from lobby import notifications
from lobby.models import DEFAULT_GAME, MatchResult, Notification, PlayerStats

MODEL = PlackettLuce()
"""The rating model (openskill's defaults: mu 25, sigma 25/3, beta 25/6)."""


def conservative(mu: float, sigma: float) -> float:
    """The ranked rating: mu - 3 sigma."""
    return float(mu - 3 * sigma)


def shown(value: float) -> float:
    """A rating as the API shows it (two decimals)."""
    return round(float(value), 2)


def rate_match(match_id: int, game: str | None = None) -> list[Notification]:
    """Rate match `match_id` and store each known player's `match_result` notification.

    Must run inside a transaction (the worker's, which also marks the task
    done): locks the players' stats rows, so two matches of one player rated
    at once by two workers apply one after the other. A match with fewer
    than two players changes no rating. Returns the stored notifications.
    """
    match = MatchResult.objects.get(pk=match_id)
    game = game or match.game or DEFAULT_GAME
    lines = list(match.players.all().order_by("place", "id"))
    user_ids = [line.user_id for line in lines if line.user_id is not None]
    for user_id in user_ids:
        PlayerStats.objects.get_or_create(user_id=user_id, game=game)
    stats = {
        row.user_id: row
        for row in PlayerStats.objects.select_for_update().filter(user_id__in=user_ids, game=game)
    }
    before = {uid: row.rating for uid, row in stats.items()}
    if len(lines) >= 2:
        teams = [
            [MODEL.rating(mu=stats[line.user_id].mu, sigma=stats[line.user_id].sigma)
             if line.user_id in stats else MODEL.rating()]
            for line in lines
        ]
        rated = MODEL.rate(teams, ranks=[float(line.place) for line in lines])
        now = timezone.now()
        for line, team in zip(lines, rated, strict=True):
            row = stats.get(line.user_id) if line.user_id is not None else None
            if row is None:
                continue
            row.mu, row.sigma = float(team[0].mu), float(team[0].sigma)
            row.rating = conservative(row.mu, row.sigma)
            row.updated_at = now
            row.save(update_fields=["mu", "sigma", "rating", "updated_at"])
            PlayerStats.objects.filter(pk=row.pk).update(rated_matches=F("rated_matches") + 1)
    stored = []
    for line in lines:
        row = stats.get(line.user_id) if line.user_id is not None else None
        if row is None:
            continue
        data: dict[str, Any] = {
            "room": match.room, "place": line.place, "players": len(lines), "score": line.score,
            "match": match.pk, "rating": shown(row.rating),
            "rating_change": shown(row.rating - before[row.user_id]),
        }
        stored.append(notifications.create(row.user_id, "match_result", data))
    return stored
