"""The lobby's tables: accounts, rooms and seats, chat, notifications, presence, match history.

Everything the lobby shares between server processes lives here, in the
database: several daphne processes (and machines) see the same rooms, chat,
notifications and presence records. Nothing is kept in a process's memory
that another process would need to be correct.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from engine.protocol import ROOM_NAME_PATTERN

ROOM_NAME_RE = f"^{ROOM_NAME_PATTERN}$"  # the validator migrations recorded


def new_token_key() -> str:
    return secrets.token_hex(16)


def new_invite_code() -> str:
    return secrets.token_urlsafe(12)


class User(AbstractUser):
    """A player. `display_name` is what others see; `username` is internal.

    `token_key` binds issued tokens to this user: rotating it revokes them all.
    """

    display_name = models.CharField(max_length=24)
    is_guest = models.BooleanField(default=False)
    token_key = models.CharField(max_length=32, default=new_token_key)

    @property
    def public(self) -> dict[str, object]:
        """The user as other players see it on the wire."""
        return {"id": self.pk, "name": self.display_name or self.username}


class Room(models.Model):
    """A named game room. Open while `closed_at` is null; a closed name can be reopened.

    `phase` mirrors the engine's phase (the game's phase names),
    reported by the runtime through `lobby.rooms.room_changed`.
    """

    name = models.CharField(max_length=64, unique=True, validators=[RegexValidator(ROOM_NAME_RE)])
    max_players = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    private = models.BooleanField(default=False)
    invite_code = models.CharField(max_length=32, blank=True, default="")
    phase = models.CharField(max_length=16, default="waiting")
    game = models.CharField(max_length=32, default="arena")
    """The id of the game the room runs (lobby/games.py), chosen when the room opens."""
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="rooms_created",
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class Seat(models.Model):
    """A user's place in a room: joined (a socket claimed it) or reserved until a time."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="seats")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="seats")
    joined = models.BooleanField(default=False)
    reserved_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="seat_room_user")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.room_id}"

    def holds(self, now: object) -> bool:
        """True while the seat counts against the room's capacity."""
        return self.joined or (self.reserved_until is not None and self.reserved_until > now)  # type: ignore[operator]


def taken_seats_q(now: object, prefix: str = "") -> Q:
    """Seats that count against capacity: joined, or reserved and not yet expired."""
    return Q(**{f"{prefix}joined": True}) | Q(**{f"{prefix}reserved_until__gt": now})


class ChatMessage(models.Model):
    """One chat line on `channel` (`lobby` or `room.<name>`). Text is stored raw: it is data.

    Moderators delete by setting `deleted_at` (soft delete): the row stays
    for the record but leaves history and every member's screen.
    """

    channel = models.CharField(max_length=80)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="chat_messages")
    text = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["channel", "id"], name="chat_channel_id"),
            models.Index(fields=["user", "created_at"], name="chat_user_created"),
        ]

    def __str__(self) -> str:
        return f"[{self.channel}] {self.text[:40]}"


class Mute(models.Model):
    """A user may not chat until `until` (set by moderators in the admin)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="mutes")
    until = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"mute {self.user_id} until {self.until:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """Something for one user: stored, pushed live to their open tabs, listed later."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notifications")
    kind = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    created = models.DateTimeField(default=timezone.now)
    read = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user", "read", "id"], name="notif_user_read_id")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class Presence(models.Model):
    """One open lobby socket: alive while `expires_at` is in the future.

    Each consumer refreshes its row by heartbeat; a process that dies leaves
    rows that simply expire, so the online count never depends on a clean
    shutdown or on one process's memory.
    """

    channel_name = models.CharField(max_length=200, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="presence")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.user_id} until {self.expires_at:%H:%M:%S}"


class LobbyState(models.Model):
    """Small shared values (last pushed presence count, room-list digest).

    Updated under a row lock so that, among all processes, only the one that
    actually changes a value pushes the change.
    """

    key = models.CharField(max_length=40, primary_key=True)
    value = models.TextField(default="")

    def __str__(self) -> str:
        return self.key


class MatchResult(models.Model):
    """A finished match of a room."""

    room = models.CharField(max_length=64, db_index=True)
    game = models.CharField(max_length=32, default="arena")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(db_index=True)
    duration_s = models.FloatField()
    replay = models.CharField(max_length=200, blank=True, default="")
    """Storage name of the match's recording (lobby/replays.py); "" when there is none."""
    private = models.BooleanField(default=False)
    """The room was private when the match ended: its replay is for its players and staff."""

    def __str__(self) -> str:
        return f"{self.room} @ {self.ended_at:%Y-%m-%d %H:%M}"


class MatchPlayer(models.Model):
    """One player's line of a `MatchResult` (`name` as it was during the match)."""

    match = models.ForeignKey(MatchResult, on_delete=models.CASCADE, related_name="players")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                             related_name="match_lines")
    name = models.CharField(max_length=24)
    kills = models.IntegerField(default=0)
    deaths = models.IntegerField(default=0)
    score = models.IntegerField(default=0)
    place = models.PositiveIntegerField()

    class Meta:
        ordering = ["place", "id"]
        indexes = [models.Index(fields=["user", "match"], name="matchplayer_user_match")]

    def __str__(self) -> str:
        return f"#{self.place} {self.name}"


DEFAULT_GAME = "arena"
"""The game id of rows written before games were pluggable; ratings and stats are
kept per (player, game)."""


class PlayerStats(models.Model):
    """One player's stored figures in one game: totals and skill rating.

    `matches`, `wins`, `kills`, `deaths`, `score` are added in the same
    transaction that stores a `MatchResult`; `mu`, `sigma`, `rating` and
    `rated_matches` are updated by the task worker (lobby/ratings.py).
    `rating` is the conservative figure `mu - 3 * sigma` the leaderboard ranks by.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="stats")
    game = models.CharField(max_length=32, default=DEFAULT_GAME)
    matches = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    kills = models.IntegerField(default=0)
    deaths = models.IntegerField(default=0)
    score = models.IntegerField(default=0)
    mu = models.FloatField(default=25.0)
    sigma = models.FloatField(default=25.0 / 3)
    rating = models.FloatField(default=0.0)
    rated_matches = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "player stats"
        constraints = [models.UniqueConstraint(fields=["user", "game"], name="stats_user_game")]
        indexes = [
            models.Index(fields=["game", "rating"], name="stats_game_rating"),
            models.Index(fields=["game", "kills"], name="stats_game_kills"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.game}: {self.rating:.2f}"


class MatchmakingTicket(models.Model):
    """When a player started looking for a room (skill-based matchmaking widens with it)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="matchmaking_ticket")
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user_id} since {self.started_at:%H:%M:%S}"


class Task(models.Model):
    """The durable outbox: one unit of background work (lobby/outbox.py).

    Written in the same transaction as what caused it, then announced on the
    channel layer. `pending` until a worker's run commits together with
    `done`; `dead` after `task_max_attempts` runs without success (retryable
    in the admin). `claim`/`claimed_until` are the running worker's lease.
    """

    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"
    STATUSES = [(PENDING, "pending"), (DONE, "done"), (DEAD, "dead")]

    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"], name="task_status_due")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
