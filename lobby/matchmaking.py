"""Matchmaking: a seat for a player who asks for a game (the default one if
none is named), by skill in that game; only rooms of that game are considered.

- `matchmake(user) -> Room`: a reservation at once, in the fullest open public
  room with a free seat (phase not `ended`) whose players' mean rating lies
  within the skill band, else the closest such room, else a new room;
- `matchmake_skill(user, wait=True)` may instead answer None (ask again)
  while the band is still widening.

Race-free: one row lock (`LobbyState` key `matchmaking.lock`) serialises
every decision, and a room's seats are counted under its own row lock, so
concurrent requests never overfill a room (docs/protocol.md, "Matchmaking").
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from lobby.models import (
    LobbyState,
    MatchmakingTicket,
    PlayerStats,
    Room,
    Seat,
    User,
    taken_seats_q,
)
from lobby.rooms import RoomError, after_commit_changed, default_max_players, game_id

MATCHMAKING_LOCK_KEY = "matchmaking.lock"
MATCHMAKING_CANDIDATES = 50
"""Open rooms with a free seat considered per request (the fullest first)."""
TICKET_TTL_SECONDS = 15.0
"""A patient player who has not asked again for this long starts a new search."""
RETRY_AFTER_SECONDS = 1.0
"""What a patient player is told to wait before asking again."""


def skill_band(waited_s: float) -> float:
    """The rating distance accepted after waiting `waited_s` seconds:
    `min(SKILL_BAND_MAX, SKILL_BAND_BASE + SKILL_BAND_GROWTH * waited_s)`."""
    config = settings.ARENA
    return float(min(config.skill_band_max,
                     config.skill_band_base + config.skill_band_growth * max(0.0, waited_s)))


def player_rating(user_id: int, game: str | None = None) -> float:
    """The conservative rating in `game` (None: the default game) matchmaking compares
    (0 for a player never rated)."""
    value = (
        PlayerStats.objects.filter(user_id=user_id, game=game_id(game))
        .values_list("rating", flat=True).first()
    )
    return float(value or 0.0)


def _mean_ratings(room_ids: list[int], now: object, game: str) -> dict[int, float]:
    """Mean rating of each room's seat holders (joined or reserved); rooms with none absent."""
    ratings: dict[int, list[float]] = {}
    rows = Seat.objects.filter(taken_seats_q(now), room_id__in=room_ids).values_list(
        "room_id", "user_id")
    held = list(rows)
    stored = dict(
        PlayerStats.objects.filter(user_id__in={u for _, u in held}, game=game)
        .values_list("user_id", "rating")
    )
    for room_id, user_id in held:
        ratings.setdefault(room_id, []).append(float(stored.get(user_id, 0.0)))
    return {room_id: sum(values) / len(values) for room_id, values in ratings.items()}


def matchmake(user: User, game: str | None = None) -> Room:
    """A reservation for `user` at once: `matchmake_skill(user, wait=False)`, never None."""
    room, _band = matchmake_skill(user, wait=False, game=game)
    assert room is not None
    return room


def matchmake_skill(
    user: User, wait: bool = False, game: str | None = None
) -> tuple[Room | None, float]:
    """Reserve a seat for `user` (for `seat_reservation_seconds`), preferring rooms
    whose seat holders' mean rating is close to the user's (docs/protocol.md);
    returns `(room or None, the band used)`.

    - A seat the user already holds in an open public room not `ended` is
      returned (a reservation is extended).
    - The band is `skill_band(waited)`, `waited` being the time since this
      search started (the user's `MatchmakingTicket`; a ticket not renewed for
      `TICKET_TTL_SECONDS` starts over). Open public rooms not `ended` with a
      free seat are candidates; a room with nobody seated fits any band.
    - Rooms within the band: the fullest first, then the closest mean, then
      the oldest. None within the band: with `wait` and a band not yet at its
      widest, answer None (ask again later); otherwise the closest room with a
      free seat (then the fullest, the oldest): a player is never left waiting
      beside a free seat once the band is widest. No room with a free seat:
      a new room.

    All matchmaking decisions are serialised by one row lock (and on SQLite by
    IMMEDIATE transactions), and each room's seats are counted under its own
    row lock, so concurrent requests never overfill a room.

    Only rooms of `game` (None: the default game) are considered, and ratings
    are those of that game; an unknown game is `RoomError("unknown_game")`.
    """
    game = game_id(game)
    config = settings.ARENA
    hold = timedelta(seconds=config.seat_reservation_seconds)
    with transaction.atomic():
        LobbyState.objects.select_for_update().get_or_create(key=MATCHMAKING_LOCK_KEY)
        now = timezone.now()
        mine = (
            Seat.objects.select_related("room")
            .filter(user=user, room__private=False, room__closed_at__isnull=True,
                    room__game=game)
            .exclude(room__phase="ended")
            .filter(taken_seats_q(now))
            .first()
        )
        if mine is not None:
            if not mine.joined:
                mine.reserved_until = now + hold
                mine.save(update_fields=["reserved_until"])
            MatchmakingTicket.objects.filter(user=user).delete()
            return mine.room, 0.0
        ticket, created = MatchmakingTicket.objects.get_or_create(
            user=user, defaults={"started_at": now, "last_seen": now}
        )
        if not created:
            if (now - ticket.last_seen).total_seconds() > TICKET_TTL_SECONDS:
                ticket.started_at = now
            ticket.last_seen = now
            ticket.save(update_fields=["started_at", "last_seen"])
        band = skill_band((now - ticket.started_at).total_seconds())
        widest = band >= config.skill_band_max
        rating = player_rating(user.pk, game)
        candidates = list(
            Room.objects.filter(private=False, closed_at__isnull=True, game=game)
            .exclude(phase="ended")
            .annotate(taken=Count("seats", filter=taken_seats_q(now, "seats__")))
            .filter(taken__lt=F("max_players"))
            .order_by("-taken", "created_at", "id")
            .values_list("id", "name", "taken")[:MATCHMAKING_CANDIDATES]
        )
        means = _mean_ratings([room_id for room_id, _, _ in candidates], now, game)
        ranked = [
            (abs(means[room_id] - rating) if room_id in means else 0.0, -taken, order, name)
            for order, (room_id, name, taken) in enumerate(candidates)
        ]
        in_band = sorted((t, d, o, n) for d, t, o, n in ranked if d <= band)
        if in_band:
            names = [n for *_, n in in_band]
        elif ranked and wait and not widest:
            return None, band
        else:
            names = [n for *_, n in sorted(ranked)]
        for name in names:
            room = Room.objects.select_for_update().filter(
                name=name, closed_at__isnull=True, private=False
            ).first()
            if room is None or room.phase == "ended":
                continue
            if room.seats.filter(taken_seats_q(now)).count() >= room.max_players:
                continue
            Seat.objects.update_or_create(
                room=room, user=user, defaults={"joined": False, "reserved_until": now + hold}
            )
            ticket.delete()
            after_commit_changed(room.name)
            return room, band
        room = _new_matchmade_room(game)
        Seat.objects.create(room=room, user=user, joined=False, reserved_until=now + hold)
        ticket.delete()
        after_commit_changed(room.name)
        return room, band


def _new_matchmade_room(game: str) -> Room:
    for _attempt in range(10):
        name = f"{game}-{secrets.token_hex(4)}"
        try:
            with transaction.atomic():
                return Room.objects.create(name=name, max_players=default_max_players(game),
                                           game=game)
        except IntegrityError:
            continue
    raise RoomError("exists", "could not find a free room name")  # pragma: no cover
