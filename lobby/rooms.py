"""Rooms, seats and matchmaking: the lobby's side of the game runtime.

The runtime (gameserver/) calls these; each sync function has an async
`a`-prefixed twin (run through `database_sync_to_async`):

- `open_room(name) -> Room`: get or create an open PUBLIC room with the
  default `max_players`; a closed room of that name is reopened as public.
- `claim_seat(name, user, invite) -> Seat`: under a lock on the room row, a
  seat the user holds becomes joined; otherwise a private room needs the
  invite (or the user is its creator) → `RoomError("private")`; a room whose
  joined seats plus unexpired reservations reach `max_players` →
  `RoomError("room_full")`; else a new joined seat. Unknown or closed →
  `RoomError("not_found")`.
- `check_view(name, user, invite) -> Room`: may this user spectate? Same
  privacy rule, no seat taken.
- `release_seat(name, user_id)`: the player left the match.
- `room_changed(name, *, phase=None)`: record a phase change and schedule
  a room-list push.
- `close_room(name)`: the runtime disposed the room: `closed_at` set, seats deleted.
- `public_rooms() -> list[dict]`: `{"name", "players", "max_players", "phase",
  "private"}` of open public rooms (`players` = joined seats), without the
  rooms the runtime reports as dead (see `set_dead_rooms_check`).
- `set_dead_rooms_check(check)`: the runtime (which this app never imports)
  installs `check(names) -> names whose engine died with its process`; with
  many processes on Redis a room row can outlive every process that ran it.
- `matchmake(user) -> Room`: a reservation at once, in the fullest open public
  room with a free seat (phase not `ended`) whose players' mean rating lies
  within the skill band, else the closest such room, else a new room;
  `matchmake_skill(user, wait=True)` may instead answer None (ask again) while
  the band is still widening (see `matchmake_skill`).

Room-list pushes: any change schedules `{"type": "rooms", "rooms": [...]}` to
the lobby group, debounced to one per `rooms_push_interval_seconds`, and sent
only when the public list actually differs from the last one pushed (shared
in the database, so one process pushes each change).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from lobby import push
from lobby.models import (
    DEFAULT_GAME,
    LobbyState,
    MatchmakingTicket,
    PlayerStats,
    Room,
    Seat,
    User,
    new_invite_code,
    taken_seats_q,
)
from lobby.perloop import PerLoop

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PHASE_CHARS = 16
MAX_LISTED = 500
ROOMS_STATE_KEY = "rooms.digest"
MATCHMAKING_LOCK_KEY = "matchmaking.lock"


class RoomError(Exception):
    """A room operation was refused; `code` names why (`not_found`, `private`,
    `room_full`, `exists`, `bad_name`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def valid_name(name: object) -> bool:
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def _check_name(name: str) -> None:
    if not valid_name(name):
        raise RoomError("bad_name", "room names are 1-64 characters of A-Z a-z 0-9 _ -")


def default_max_players() -> int:
    return int(settings.ARENA.max_players_per_room)


def room_dict(room: Room, players: int) -> dict[str, Any]:
    """The contract's room shape."""
    return {
        "name": room.name,
        "players": players,
        "max_players": room.max_players,
        "phase": room.phase,
        "private": room.private,
    }


def joined_count(room: Room) -> int:
    return room.seats.filter(joined=True).count()


DeadRoomsCheck = Callable[[list[str]], set[str]]
_dead_rooms_check: DeadRoomsCheck | None = None
_dead_check_warned = 0.0


def set_dead_rooms_check(check: DeadRoomsCheck | None) -> None:
    """Install (None: remove) the runtime's `check(names) -> dead names` for `public_rooms`.

    A dead room's engine started and died with its process, and no process
    runs it now: its row and joined seats are left-overs, so it is not listed
    (the runtime closes such rows later). If the check raises, the list is
    served unfiltered and a warning is logged at most once a minute.
    """
    global _dead_rooms_check
    _dead_rooms_check = check


def _dead(names: list[str]) -> set[str]:
    global _dead_check_warned
    check = _dead_rooms_check
    if check is None or not names:
        return set()
    try:
        return check(names)
    except Exception:
        now = time.monotonic()
        if now - _dead_check_warned >= 60:
            _dead_check_warned = now
            logger.warning("could not tell live rooms from dead ones; listing all", exc_info=True)
        return set()


def public_rooms() -> list[dict[str, Any]]:
    """Open public rooms in the contract's shape, oldest first, without dead rooms."""
    rows = list(
        Room.objects.filter(private=False, closed_at__isnull=True)
        .annotate(players=Count("seats", filter=Q(seats__joined=True)))
        .order_by("created_at", "id")[:MAX_LISTED]
    )
    dead = _dead([room.name for room in rows])
    return [room_dict(room, room.players) for room in rows if room.name not in dead]


def _after_commit_changed(name: str) -> None:
    transaction.on_commit(lambda: room_changed(name))


# Runtime API -------------------------------------------------------------------


def open_room(name: str) -> Room:
    """Get or create the open room `name` (public, default max players if new or reopened)."""
    _check_name(name)
    changed = False
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(name=name).first()
        if room is None:
            try:
                with transaction.atomic():
                    room = Room.objects.create(name=name, max_players=default_max_players())
                changed = True
            except IntegrityError:
                room = Room.objects.select_for_update().get(name=name)
        if room.closed_at is not None:
            _reset(room, max_players=default_max_players(), private=False, creator=None)
            changed = True
    if changed:
        room_changed(name)
    return room


def _reset(room: Room, *, max_players: int, private: bool, creator: User | None) -> None:
    room.seats.all().delete()
    room.closed_at = None
    room.phase = "waiting"
    room.max_players = max_players
    room.private = private
    room.invite_code = new_invite_code() if private else ""
    room.created_by = creator
    room.created_at = timezone.now()
    room.save()


def _locked_open_room(name: str) -> Room:
    room = Room.objects.select_for_update().filter(name=name, closed_at__isnull=True).first()
    if room is None:
        raise RoomError("not_found", f"no open room {name!r}")
    return room


def may_enter(room: Room, user: User, invite: str | None) -> bool:
    if not room.private or room.created_by_id == user.pk:
        return True
    return bool(
        invite and room.invite_code and secrets.compare_digest(invite, room.invite_code)
    )


def claim_seat(name: str, user: User, invite: str | None = None) -> Seat:
    """Take (or re-take) a joined seat in open room `name`; RoomError if refused."""
    _check_name(name)
    changed = False
    with transaction.atomic():
        room = _locked_open_room(name)
        now = timezone.now()
        room.seats.filter(joined=False, reserved_until__lte=now).delete()
        seat = Seat.objects.filter(room=room, user=user).first()
        if seat is not None and seat.holds(now):
            if not seat.joined:
                seat.joined = True
                seat.reserved_until = None
                seat.save(update_fields=["joined", "reserved_until"])
                changed = True
        else:
            if not may_enter(room, user, invite):
                raise RoomError("private", "this room is private: an invite is needed")
            if room.seats.filter(taken_seats_q(now)).count() >= room.max_players:
                raise RoomError("room_full", f"room {name!r} is full")
            seat = Seat.objects.create(room=room, user=user, joined=True)
            changed = True
        if changed:
            _after_commit_changed(name)
    return seat


def check_view(name: str, user: User, invite: str | None = None) -> Room:
    """May `user` watch open room `name`? Returns it, else RoomError (`not_found`, `private`)."""
    _check_name(name)
    room = Room.objects.filter(name=name, closed_at__isnull=True).first()
    if room is None:
        raise RoomError("not_found", f"no open room {name!r}")
    if not may_enter(room, user, invite) and not room.seats.filter(user=user).exists():
        raise RoomError("private", "this room is private: an invite is needed")
    return room


def release_seat(name: str, user_id: int) -> None:
    """Give back the user's seat in `name` (no-op if they hold none)."""
    deleted, _ = Seat.objects.filter(room__name=name, user_id=user_id).delete()
    if deleted:
        room_changed(name)


def room_changed(name: str, *, phase: str | None = None) -> None:
    """Record a phase change (if given) and schedule a debounced room-list push."""
    if phase is not None:
        if not isinstance(phase, str) or not 1 <= len(phase) <= MAX_PHASE_CHARS:
            raise ValueError(f"phase must be 1 to {MAX_PHASE_CHARS} characters")
        Room.objects.filter(name=name).exclude(phase=phase).update(phase=phase)
    pusher.request()


def close_room(name: str) -> None:
    """The runtime disposed the room: mark it closed and delete its seats."""
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(name=name, closed_at__isnull=True).first()
        if room is None:
            return
        room.closed_at = timezone.now()
        room.save(update_fields=["closed_at"])
        room.seats.all().delete()
        _after_commit_changed(name)


def reset_live_state() -> int:
    """No engine runs anywhere (a single server process starts or stops).

    Joined seats are let go and every open room goes back to `waiting`, so the
    room list never shows players of a server that is gone; reservations made
    by matchmaking and the rooms themselves are kept. Returns the seats freed.
    """
    with transaction.atomic():
        freed, _ = Seat.objects.filter(joined=True, room__closed_at__isnull=True).delete()
        Room.objects.filter(closed_at__isnull=True).exclude(phase="waiting").update(
            phase="waiting"
        )
    if freed:
        pusher.request()
    return freed


def create_room(
    user: User, name: str | None = None, max_players: int | None = None, private: bool = False
) -> Room:
    """A new open room created by `user` (random name if None); RoomError("exists") if taken."""
    limit = default_max_players()
    max_players = limit if max_players is None else max_players
    if not 1 <= max_players <= limit:
        raise RoomError("bad_max_players", f"max_players must be 1 to {limit}")
    for _attempt in range(5):
        candidate = name if name is not None else f"room-{secrets.token_hex(4)}"
        _check_name(candidate)
        with transaction.atomic():
            room = Room.objects.select_for_update().filter(name=candidate).first()
            if room is None:
                try:
                    with transaction.atomic():
                        room = Room.objects.create(
                            name=candidate, max_players=max_players, private=private,
                            invite_code=new_invite_code() if private else "", created_by=user,
                        )
                except IntegrityError:
                    room = None
            elif room.closed_at is not None:
                _reset(room, max_players=max_players, private=private, creator=user)
            else:
                room = None
            if room is not None:
                _after_commit_changed(candidate)
                return room
        if name is not None:
            break
    raise RoomError("exists", f"a room named {name!r} is already open")


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


def player_rating(user_id: int) -> float:
    """The conservative rating matchmaking compares (0 for a player never rated)."""
    value = (
        PlayerStats.objects.filter(user_id=user_id, game=DEFAULT_GAME)
        .values_list("rating", flat=True).first()
    )
    return float(value or 0.0)


def _mean_ratings(room_ids: list[int], now: object) -> dict[int, float]:
    """Mean rating of each room's seat holders (joined or reserved); rooms with none absent."""
    ratings: dict[int, list[float]] = {}
    rows = Seat.objects.filter(taken_seats_q(now), room_id__in=room_ids).values_list(
        "room_id", "user_id")
    held = list(rows)
    stored = dict(
        PlayerStats.objects.filter(user_id__in={u for _, u in held}, game=DEFAULT_GAME)
        .values_list("user_id", "rating")
    )
    for room_id, user_id in held:
        ratings.setdefault(room_id, []).append(float(stored.get(user_id, 0.0)))
    return {room_id: sum(values) / len(values) for room_id, values in ratings.items()}


def matchmake(user: User) -> Room:
    """A reservation for `user` at once: `matchmake_skill(user, wait=False)`, never None."""
    room, _band = matchmake_skill(user, wait=False)
    assert room is not None
    return room


def matchmake_skill(user: User, wait: bool = False) -> tuple[Room | None, float]:
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
    """
    config = settings.ARENA
    hold = timedelta(seconds=config.seat_reservation_seconds)
    with transaction.atomic():
        LobbyState.objects.select_for_update().get_or_create(key=MATCHMAKING_LOCK_KEY)
        now = timezone.now()
        mine = (
            Seat.objects.select_related("room")
            .filter(user=user, room__private=False, room__closed_at__isnull=True)
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
        rating = player_rating(user.pk)
        candidates = list(
            Room.objects.filter(private=False, closed_at__isnull=True)
            .exclude(phase="ended")
            .annotate(taken=Count("seats", filter=taken_seats_q(now, "seats__")))
            .filter(taken__lt=F("max_players"))
            .order_by("-taken", "created_at", "id")
            .values_list("id", "name", "taken")[:MATCHMAKING_CANDIDATES]
        )
        means = _mean_ratings([room_id for room_id, _, _ in candidates], now)
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
            _after_commit_changed(room.name)
            return room, band
        room = _new_matchmade_room()
        Seat.objects.create(room=room, user=user, joined=False, reserved_until=now + hold)
        ticket.delete()
        _after_commit_changed(room.name)
        return room, band


def _new_matchmade_room() -> Room:
    for _attempt in range(10):
        name = f"arena-{secrets.token_hex(4)}"
        try:
            with transaction.atomic():
                return Room.objects.create(name=name, max_players=default_max_players())
        except IntegrityError:
            continue
    raise RoomError("exists", "could not find a free room name")  # pragma: no cover


# Debounced room-list pushes ----------------------------------------------------------


def _digest(listing: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()


def _changed_list() -> list[dict[str, Any]] | None:
    """The public list if it differs from the last one pushed by any process, else None."""
    listing = public_rooms()
    changed = push.swap_state(ROOMS_STATE_KEY, _digest(listing), initial=_digest([]))
    return listing if changed else None


class RoomsPusher:
    """Coalesces room-list changes into at most one push per interval per process.

    `request()` may be called from anywhere. On an event loop it schedules
    that loop's push; inside `push.run_sync` (a database thread the loop is
    waiting on) it is handed to the loop, which schedules the push once the
    thread returns; from a truly synchronous caller (a view, a management
    command) it pushes at once if the list changed. Each loop keeps its own
    timer and task, so a loop that is gone (a finished test) leaves nothing
    behind that a later one could wait on.
    """

    def __init__(self) -> None:
        self._loops: PerLoop[_LoopPusher] = PerLoop(_LoopPusher)

    def request(self) -> None:
        """The public list may have changed: make sure a push follows."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self._loops.get().schedule()
            return
        if push.defer(self._arequest):
            return
        rooms = _changed_list()
        if rooms is not None:
            push.push(push.LOBBY_GROUP, {"type": "rooms", "rooms": rooms})

    async def _arequest(self) -> None:
        self._loops.get().schedule()


class _LoopPusher:
    """One loop's debounce state: a pending timer or a running push task."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._dirty = False
        self._last = 0.0

    def schedule(self) -> None:
        """On the loop: push now, or arm one timer for the end of the interval."""
        self._dirty = True
        if self._task is not None and not self._task.done():
            return  # the running push re-schedules itself if still dirty
        if self._timer is not None:
            return
        wait = self._last + float(settings.ARENA.rooms_push_interval_seconds) - time.monotonic()
        if wait > 0:
            # A timer, not a sleeping task: a loop that closes meanwhile drops
            # it silently instead of destroying a pending task.
            self._timer = asyncio.get_running_loop().call_later(wait, self._fire)
        else:
            self._fire()

    def _fire(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), context=contextvars.Context()
        )
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            logger.error("room list push failed", exc_info=task.exception())
        if self._dirty and not task.get_loop().is_closed():
            self.schedule()

    async def _run(self) -> None:
        self._dirty = False
        self._last = time.monotonic()
        rooms = await database_sync_to_async(_changed_list)()
        if rooms is not None:
            await push.apush(push.LOBBY_GROUP, {"type": "rooms", "rooms": rooms})


pusher = RoomsPusher()


# Async twins -------------------------------------------------------------------------


async def aopen_room(name: str) -> Room:
    return await push.run_sync(open_room, name)


async def aclaim_seat(name: str, user: User, invite: str | None = None) -> Seat:
    return await push.run_sync(claim_seat, name, user, invite)


async def acheck_view(name: str, user: User, invite: str | None = None) -> Room:
    return await database_sync_to_async(check_view)(name, user, invite)


async def arelease_seat(name: str, user_id: int) -> None:
    await push.run_sync(release_seat, name, user_id)


async def aroom_changed(name: str, *, phase: str | None = None) -> None:
    await push.run_sync(room_changed, name, phase=phase)


async def aclose_room(name: str) -> None:
    await push.run_sync(close_room, name)


async def areset_live_state() -> int:
    return await push.run_sync(reset_live_state)


async def apublic_rooms() -> list[dict[str, Any]]:
    return await database_sync_to_async(public_rooms)()

