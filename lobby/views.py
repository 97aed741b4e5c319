"""The lobby's HTTP API (docs/protocol.md, "HTTP API").

Every bad input is answered `4xx {"error": {"code", "message"}}` through
`lobby.http.api` / `parse_body` / `ApiError`; nothing here answers 500.
Cookie-authenticated POSTs need the CSRF token; bearer-token requests do not
(`BearerTokenMiddleware`). Every POST is rate limited per user
(lobby/ratelimit.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, model_validator

from lobby import chat, games, history, matchmaking, notifications, replays, rooms
from lobby.http import ApiError, api, parse_body
from lobby.models import Room, User
from lobby.ratelimit import rate_limit

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_ID = 2**63 - 1

_ROOM_ERROR_STATUS = {
    "bad_name": (400, "invalid"),
    "bad_max_players": (400, "invalid"),
    "exists": (409, "exists"),
    "not_found": (404, "not_found"),
    "private": (403, "private"),
    "room_full": (409, "room_full"),
    "unknown_game": (400, "unknown_game"),
    "wrong_game": (409, "wrong_game"),
}


def _room_error(exc: rooms.RoomError) -> ApiError:
    status, code = _ROOM_ERROR_STATUS.get(exc.code, (400, exc.code))
    return ApiError(status, code, exc.message)


def int_param(
    request: HttpRequest, name: str, default: int | None, low: int, high: int
) -> int | None:
    """An integer query parameter in [low, high], `default` if absent; ApiError 400 otherwise."""
    raw = request.GET.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 20:
        raise ApiError(400, "invalid", f"{name} must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, "invalid", f"{name} must be between {low} and {high}")
    return value


def _limit(request: HttpRequest, default: int = DEFAULT_LIMIT) -> int:
    value = int_param(request, "limit", default, 1, MAX_LIMIT)
    assert value is not None
    return value


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


# Games ---------------------------------------------------------------------------


@api("GET")
def games_view(request: HttpRequest) -> HttpResponse:
    """GET /api/games → {"games": [{"id", "name", "tick_rate", "snapshot_rate",
    "min_players", "max_players"}]}: the games this server offers, the default first."""
    return JsonResponse({"games": games.describe()})


def _game(game: str | None) -> str:
    """A requested game id checked against GAMES (None: the default); 400 `unknown_game`."""
    try:
        return games.get(game).info.id
    except games.UnknownGame as exc:
        raise ApiError(400, "unknown_game", exc.message) from None


# Rooms ---------------------------------------------------------------------------


class CreateRoomRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    max_players: StrictInt | None = None
    private: StrictBool = False
    game: StrictStr | None = None


def _room_answer(room: Room) -> dict[str, Any]:
    invite = room.invite_code if room.private else None
    return {
        "room": rooms.room_dict(room, rooms.joined_count(room)),
        "invite": invite,
        "invite_url": f"/play/{room.name}/?invite={quote(invite)}" if invite else None,
    }


def _create_room_capped(user: User, body: CreateRoomRequest) -> Room:
    """`rooms.create_room` unless `user` already has MAX_OPEN_ROOMS_PER_USER open rooms.

    The user's row is locked while counting, so concurrent requests of one
    user cannot both pass the cap. Closed rooms do not count.
    """
    cap = settings.ARENA.max_open_rooms_per_user
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        open_rooms = Room.objects.filter(created_by=user, closed_at__isnull=True).count()
        if open_rooms >= cap:
            raise ApiError(
                409, "too_many_open_rooms",
                f"you already have {open_rooms} open rooms, the most one player may have "
                f"({cap}); a room closes once it has been empty for a while",
            )
        try:
            return rooms.create_room(user, body.name, body.max_players, body.private,
                                     body.game)
        except rooms.RoomError as exc:
            raise _room_error(exc) from None


@rate_limit("create_room", lambda: settings.ARENA.create_room_rate_per_minute, by="user",
            methods=("POST",))
@api("GET", "POST")
def rooms_view(request: HttpRequest) -> HttpResponse:
    """GET /api/rooms → {"rooms": [...]} (open public rooms);
    POST /api/rooms {"name"?, "max_players"?, "private"?, "game"?} → 201 {"room", "invite",
    "invite_url"} (an unknown game → 400 `unknown_game`).

    POST: at most CREATE_ROOM_RATE_PER_MINUTE per user (429 `rate_limited`),
    and at most MAX_OPEN_ROOMS_PER_USER open rooms per creator (409
    `too_many_open_rooms`)."""
    if request.method == "GET":
        return JsonResponse({"rooms": rooms.public_rooms()})
    if not request.user.is_authenticated:
        raise ApiError(401, "not_authenticated", "log in or send a bearer token")
    body = parse_body(request, CreateRoomRequest)
    if body.name is not None and not rooms.valid_name(body.name):
        raise ApiError(400, "invalid", "name: 1-64 characters of A-Z a-z 0-9 _ -")
    body.game = _game(body.game)
    room = _create_room_capped(_user(request), body)
    return JsonResponse(_room_answer(room), status=201)


class MatchmakeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    wait: StrictBool = False
    game: StrictStr | None = None


@rate_limit("matchmake", lambda: settings.ARENA.matchmake_rate_per_minute, by="user")
@api("POST", login=True)
def matchmake(request: HttpRequest) -> HttpResponse:
    """POST /api/matchmake {"wait"?: bool, "game"?: id} → {"room": name}: a
    seat reserved for seat_reservation_seconds in a room of that game; with `wait`
    maybe {"room": null, "retry_after", "band"}."""
    body = parse_body(request, MatchmakeRequest)
    user = _user(request)
    game = _game(body.game)
    room, band = matchmaking.matchmake_skill(user, wait=body.wait, game=game)
    if room is None:
        return JsonResponse({"room": None, "retry_after": matchmaking.RETRY_AFTER_SECONDS,
                             "band": round(band, 2)})
    return JsonResponse({"room": room.name})


# Chat ----------------------------------------------------------------------------------


@api("GET")
def chat_history(request: HttpRequest, channel: str) -> HttpResponse:
    """GET /api/chat/<channel>?limit=N&before=<id> → {"messages", "next_before"}.

    Messages oldest first; `lobby` or `room.<name>` (a private room's only for
    its creator, seat holders, or with `?invite=`)."""
    if not chat.valid_channel(channel):
        raise ApiError(400, "bad_channel", "channel must be 'lobby' or 'room.<name>'")
    limit = _limit(request)
    before = int_param(request, "before", None, 1, MAX_ID)
    if channel != "lobby":
        room = chat.channel_room(channel)
        if room is None:
            raise ApiError(404, "not_found", f"no room {channel[5:]!r}")
        if room.private:
            user = request.user
            invite = request.GET.get("invite")
            allowed = isinstance(user, User) and (
                rooms.may_enter(room, user, invite) or room.seats.filter(user=user).exists()
            )
            if not allowed:
                # Private rooms are not listed anywhere: do not confirm one exists.
                raise ApiError(404, "not_found", f"no room {channel[5:]!r}")
    return JsonResponse(chat.history(channel, limit, before))


# Notifications -------------------------------------------------------------------------


@api("GET", login=True)
def notification_list(request: HttpRequest) -> HttpResponse:
    """GET /api/notifications?before=&limit= → {"notifications", "unread", "next_before"}."""
    limit = _limit(request)
    before = int_param(request, "before", None, 1, MAX_ID)
    try:
        return JsonResponse(notifications.page(_user(request).pk, limit, before))
    except ValueError as exc:
        raise ApiError(400, "invalid", str(exc)) from None


class ReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[StrictInt] | None = None
    all: StrictBool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ReadRequest:
        if (self.ids is None) == (self.all is None):
            raise ValueError('send either {"ids": [...]} or {"all": true}')
        if self.all is False:
            raise ValueError('"all" must be true')
        if self.ids is not None and not 1 <= len(self.ids) <= 500:
            raise ValueError("ids must list 1 to 500 ids")
        return self


@rate_limit("notifications_read",
            lambda: settings.ARENA.notifications_read_rate_per_minute, by="user")
@api("POST", login=True)
def notification_read(request: HttpRequest) -> HttpResponse:
    """POST /api/notifications/read {"ids": [...]} | {"all": true} → {"updated", "unread"}."""
    body = parse_body(request, ReadRequest)
    return JsonResponse(notifications.mark_read(_user(request).pk, body.ids))


# Match history and leaderboard ---------------------------------------------------------


@api("GET")
def match_list(request: HttpRequest) -> HttpResponse:
    """GET /api/matches?user=<id>&before=&limit= → {"matches": [...newest first], "next_before"}."""
    limit = _limit(request, 20)
    before = int_param(request, "before", None, 1, MAX_ID)
    user_id = int_param(request, "user", None, 1, MAX_ID)
    return JsonResponse(history.matches(user_id, limit, before))


@api("GET")
def match_replay(request: HttpRequest, match_id: int) -> HttpResponse:
    """GET /api/matches/<id>/replay → the playback document (`application/msgpack`);
    404 for an unknown match or one without a recording; 403 `private` for a private
    room's match to anyone but its players and staff."""
    try:
        match = replays.match_with_replay(match_id)
    except replays.NoReplay as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    user = request.user if isinstance(request.user, User) else None
    if not replays.may_view(match, user):
        raise ApiError(403, "private", "this match was played in a private room: its replay "
                                       "is for its players and staff")
    try:
        data = replays.playback(match)
    except replays.NoReplay as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return HttpResponse(data, content_type="application/msgpack")


@api("GET")
def leaderboard(request: HttpRequest) -> HttpResponse:
    """GET /api/leaderboard?limit=&by=kills|wins|rating&game= → {"by", "game", "players"}
    (`game`: the default game if absent; unknown → 400 `unknown_game`)."""
    limit = _limit(request, 20)
    by = request.GET.get("by", "kills")
    if by not in history.LEADERBOARD_ORDER:
        raise ApiError(400, "invalid", "by must be 'kills', 'wins' or 'rating'")
    game = _game(request.GET.get("game"))
    return JsonResponse({"by": by, "game": game,
                         "players": history.leaderboard(limit, by, game)})
