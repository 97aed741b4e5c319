"""Rooms and seats: the lobby's side of the game runtime.

The runtime (gameserver/) calls these; most sync functions have an async
`a`-prefixed twin (run through `push.run_sync`):

- `join(name, who, *, game=None, invite=None, spectator=False) -> (User, Room)`:
  a game socket enters, in one database call: `who` is a user or a bearer
  token's claims, checked first (`tokens.TokenError`); then `open_room` and
  `claim_seat` in one transaction, or `check_view` for a spectator.
- `join_many(requests) -> [(User, Room) or the refusal]`: players' joins in
  one transaction, each answered as `join` would; the runtime's joins that
  queue while its database thread is busy go together (gameserver/joins.py).
- `open_room(name, game=None) -> Room`: get or create an open PUBLIC room
  of `game` (None: the default game) with that game's `max_players`; a
  closed room of that name is reopened as public. An open room of another
  game than the one named → `RoomError("wrong_game")`; an unknown game →
  `RoomError("unknown_game")`.
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

Matchmaking is lobby/matchmaking.py. Any change of the public list sends the
`lobby.signals.room_list_changed` signal (after the commit); the runtime
turns it into debounced `rooms` pushes (gameserver/roomlist.py).
"""

from __future__ import annotations

import copy
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from channels.db import database_sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from engine.errors import CodedError
from engine.protocol import valid_room_name
from lobby import games, push, signals, tokens
from lobby.models import (
    Room,
    Seat,
    User,
    new_invite_code,
)

logger = logging.getLogger(__name__)

MAX_PHASE_CHARS = 16
MAX_LISTED = 500


class RoomError(CodedError):
    """A room operation was refused; `code` names why (`not_found`, `private`,
    `room_full`, `exists`, `bad_name`, `unknown_game`, `wrong_game`)."""


def valid_name(name: object) -> bool:
    return valid_room_name(name)


def _check_name(name: str) -> None:
    if not valid_name(name):
        raise RoomError("bad_name", "room names are 1-64 characters of A-Z a-z 0-9 _ -")


def default_max_players(game: str | None = None) -> int:
    """Seats of a new room of `game` (None: the default game), also its upper bound."""
    return games.max_players(game if game is not None else games.default_id())


def game_id(game: str | None) -> str:
    """`game`, or the default game's id for None; `RoomError("unknown_game")` if not offered."""
    try:
        return games.get(game).info.id
    except games.UnknownGame as exc:
        raise RoomError("unknown_game", exc.message) from None


def room_dict(room: Room, players: int) -> dict[str, Any]:
    """The contract's room shape."""
    return {
        "name": room.name,
        "players": players,
        "max_players": room.max_players,
        "phase": room.phase,
        "private": room.private,
        "game": room.game,
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


def after_commit_changed(name: str) -> None:
    """Have `room_changed(name)` run once the current transaction commits."""
    transaction.on_commit(lambda: room_changed(name))


# Runtime API -------------------------------------------------------------------


def open_room(name: str, game: str | None = None) -> Room:
    """Get or create the open room `name` (public, its game's max players if new or
    reopened); `game` None: the open room's game, or the default game for a new one."""
    _check_name(name)
    wanted = game_id(game)
    with transaction.atomic():
        room, changed = _open_locked(name, game, wanted)
    if changed:
        room_changed(name)
    return room


def _open_locked(name: str, game: str | None, wanted: str) -> tuple[Room, bool]:
    """Inside a transaction: `open_room`'s work on the locked row; (room, list changed)."""
    changed = False
    room = Room.objects.select_for_update().filter(name=name).first()
    if room is None:
        try:
            with transaction.atomic():
                room = Room.objects.create(
                    name=name, max_players=default_max_players(wanted), game=wanted)
            changed = True
        except IntegrityError:
            room = Room.objects.select_for_update().get(name=name)
    if room.closed_at is not None:
        _reset(room, max_players=default_max_players(wanted), private=False, creator=None,
               game=wanted)
        changed = True
    elif game is not None and room.game != wanted:
        raise RoomError("wrong_game",
                        f"room {name!r} runs the game {room.game!r}, not {wanted!r}")
    return room, changed


def _reset(
    room: Room, *, max_players: int, private: bool, creator: User | None, game: str
) -> None:
    room.seats.all().delete()
    room.closed_at = None
    room.phase = "waiting"
    room.max_players = max_players
    room.private = private
    room.invite_code = new_invite_code() if private else ""
    room.created_by = creator
    room.game = game
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
    with transaction.atomic():
        seats = _Seats.read([_locked_open_room(name)])[0]
        seat = seats.claim(user, invite)
        if _Seats.save([seats]):
            after_commit_changed(name)
    return seat


class _Seats:
    """The seats of a locked open room, read once; claims are decided in memory.

    One read of the room's seats (a room has a few dozen at most) answers, for
    every claim made through this object, whether the user holds one and how
    many count against capacity, so a batch of joins reads them once (one
    query for all its rooms, `read`). `save` then writes what the successful
    claims changed: expired reservations deleted (only in a room where some
    claim succeeded, so a refusal writes nothing), re-taken reservations
    marked joined, new seats in one insert.
    """

    def __init__(self, room: Room, rows: list[Seat], now: Any) -> None:
        self.room = room
        self.now = now
        self.rows = rows
        self.expired = [s.pk for s in rows if not s.joined
                        and s.reserved_until is not None and s.reserved_until <= now]
        self.claimed = False
        self.retaken: list[Seat] = []
        self.added: list[Seat] = []

    @classmethod
    def read(cls, rooms: list[Room]) -> list[_Seats]:
        """The seats of each of these locked rooms, in one query."""
        rows: dict[int, list[Seat]] = {room.pk: [] for room in rooms}
        for seat in Seat.objects.filter(room__in=list(rows)):
            rows[seat.room_id].append(seat)
        now = timezone.now()
        return [cls(room, rows[room.pk], now) for room in rooms]

    def claim(self, user: User, invite: str | None) -> Seat:
        """The user's joined seat (held already, re-taken or new); RoomError if refused."""
        now = self.now
        seat = next((s for s in self.rows if s.user_id == user.pk and s.holds(now)), None)
        if seat is None:
            if not may_enter(self.room, user, invite):
                raise RoomError("private", "this room is private: an invite is needed")
            if sum(1 for s in self.rows if s.holds(now)) >= self.room.max_players:
                raise RoomError("room_full", f"room {self.room.name!r} is full")
            seat = Seat(room=self.room, user=user, joined=True)
            self.rows.append(seat)
            self.added.append(seat)
        elif not seat.joined:
            seat.joined = True
            seat.reserved_until = None
            self.retaken.append(seat)
        self.claimed = True
        return seat

    @staticmethod
    def save(rooms: list[_Seats]) -> set[str]:
        """Write the successful claims of these rooms; the names whose players changed."""
        claimed = [r for r in rooms if r.claimed]
        expired = [pk for r in claimed for pk in r.expired]
        if expired:
            Seat.objects.filter(pk__in=expired).delete()
        for r in claimed:
            for seat in r.retaken:
                seat.save(update_fields=["joined", "reserved_until"])
        added = [seat for r in claimed for seat in r.added]
        if added:
            Seat.objects.bulk_create(added)
        return {r.room.name for r in claimed if r.retaken or r.added}


Who = User | tokens.Claims
"""Who enters: a user (a browser's session), or a bearer token's checked-signature claims."""


@dataclass(frozen=True)
class JoinRequest:
    """A player's socket asks to enter room `name` (see `join`)."""

    name: str
    who: Who
    game: str | None = None
    invite: str | None = None


JoinResult = tuple[User, Room] | Exception
"""What `join_many` answers for one request: its (user, room), or the refusal or
error `join` would have raised."""


def join(name: str, who: Who, *, game: str | None = None, invite: str | None = None,
         spectator: bool = False) -> tuple[User, Room]:
    """A game socket enters room `name`: (its user, the room row), in one database call.

    A bearer token's claims are checked first (`tokens.TokenError` when its
    user is gone or the token was revoked: revocation works at once). Then a
    player gets `open_room(name, game)` and `claim_seat(name, user, invite)`
    in one transaction (a refusal undoes both); a spectator gets
    `check_view(name, user, invite)` (a room of another game than `game` is
    `RoomError("wrong_game")`). For a player taking a new seat in an open
    room that is four queries: the user, the room, its seats, the insert.
    """
    if spectator:
        user = who if isinstance(who, User) else tokens.user_for_claims(who)
        room = check_view(name, user, invite)
        if game is not None and room.game != game_id(game):
            raise RoomError("wrong_game", f"room {name!r} runs the game {room.game!r}")
        return user, room
    with transaction.atomic():
        result = _join_all([JoinRequest(name, who, game, invite)])[0]
        if isinstance(result, Exception):
            raise result  # inside the transaction: nothing it did stays
    return result


def join_many(requests: Sequence[JoinRequest]) -> list[JoinResult]:
    """Players' joins in one transaction: each answered as if `join` ran for each in order.

    The runtime's database thread takes the joins that queued while it was
    busy together (gameserver/joins.py): one query for all the tokens'
    users, one lock per room, one read of all its rooms' seats, one insert of
    all new seats, one commit, instead of all of that per join. A refusal is that request's
    answer and writes nothing; the others go on. Rooms are locked in name
    order, so two processes' batches cannot deadlock. If the batch fails as a
    whole (a database error), each request is retried alone with `join`.
    """
    try:
        with transaction.atomic():
            return _join_all(requests)
    except Exception:
        if len(requests) == 1:
            raise
        logger.warning("a batch of %d joins failed; joining them one by one",
                       len(requests), exc_info=True)
    results: list[JoinResult] = []
    for r in requests:
        try:
            results.append(join(r.name, r.who, game=r.game, invite=r.invite))
        except Exception as exc:
            results.append(exc)
    return results


def _users(requests: Sequence[JoinRequest]) -> dict[int, User]:
    """The active users the requests' token claims name (one query)."""
    ids = {r.who[0] for r in requests if not isinstance(r.who, User)}
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.filter(pk__in=ids, is_active=True)}


def _join_all(requests: Sequence[JoinRequest]) -> list[JoinResult]:
    """Inside a transaction: `join_many`'s work; refusals are answers, not raised."""
    results: list[JoinResult | None] = [None] * len(requests)
    found = _users(requests)
    handed: set[int] = set()
    ready: list[tuple[int, JoinRequest, User, str]] = []
    for i, r in enumerate(requests):
        try:
            if isinstance(r.who, User):
                user = r.who
            else:
                user = tokens.user_of_claims(r.who, found.get(r.who[0]))
                if user.pk in handed:  # two sockets of one user: a row each
                    user = copy.copy(user)
                handed.add(user.pk)
            _check_name(r.name)
            ready.append((i, r, user, game_id(r.game)))
        except (tokens.TokenError, RoomError) as exc:
            results[i] = exc
    # Open (create or reopen) each room as its first request would, locking the
    # rows in name order. A new or reopened room is public and empty: its first
    # request always gets in, so no refusal leaves a room it opened behind.
    first: dict[str, str] = {}
    for _, r, _, wanted in ready:
        first.setdefault(r.name, wanted)
    locked: list[Room] = []
    opened: set[str] = set()
    for name in sorted(first):
        room, changed = _open_locked(name, None, first[name])
        locked.append(room)
        if changed:
            opened.add(name)
    seats = {s.room.name: s for s in _Seats.read(locked)}
    for i, r, user, wanted in ready:
        room = seats[r.name].room
        try:
            if r.game is not None and room.game != wanted:
                raise RoomError("wrong_game",
                                f"room {r.name!r} runs the game {room.game!r}, not {wanted!r}")
            seats[r.name].claim(user, r.invite)
        except RoomError as exc:
            results[i] = exc
            continue
        results[i] = (user, room)
    for name in sorted(_Seats.save(list(seats.values())) | opened):
        after_commit_changed(name)
    return cast(list[JoinResult], results)


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
    signals.room_list_changed.send(sender=Room, room=name)


def close_room(name: str) -> None:
    """The runtime disposed the room: mark it closed and delete its seats."""
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(name=name, closed_at__isnull=True).first()
        if room is None:
            return
        room.closed_at = timezone.now()
        room.save(update_fields=["closed_at"])
        room.seats.all().delete()
        after_commit_changed(name)


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
        signals.room_list_changed.send(sender=Room, room=None)
    return freed


def create_room(
    user: User, name: str | None = None, max_players: int | None = None, private: bool = False,
    game: str | None = None,
) -> Room:
    """A new open room of `game` (None: the default game) created by `user` (random
    name if None); RoomError("exists") if taken, ("unknown_game") if not offered."""
    game = game_id(game)
    limit = default_max_players(game)
    max_players = limit if max_players is None else max_players
    if not 1 <= max_players <= limit:
        raise RoomError("bad_max_players", f"max_players must be 1 to {limit} for {game!r}")
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
                            game=game,
                        )
                except IntegrityError:
                    room = None
            elif room.closed_at is not None:
                _reset(room, max_players=max_players, private=private, creator=user, game=game)
            else:
                room = None
            if room is not None:
                after_commit_changed(candidate)
                return room
        if name is not None:
            break
    raise RoomError("exists", f"a room named {name!r} is already open")


# Async twins -------------------------------------------------------------------------


async def aopen_room(name: str, game: str | None = None) -> Room:
    return await push.run_sync(open_room, name, game)


async def aclaim_seat(name: str, user: User, invite: str | None = None) -> Seat:
    return await push.run_sync(claim_seat, name, user, invite)


async def ajoin(name: str, who: Who, *, game: str | None = None, invite: str | None = None,
                spectator: bool = False) -> tuple[User, Room]:
    return await push.run_sync(join, name, who, game=game, invite=invite, spectator=spectator)


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

