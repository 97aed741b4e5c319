"""The staff room monitor: live rooms of this process, and what staff can do to them.

`/staff/rooms/` (HTML) and `/staff/rooms.json` (tooling) list this process's
rooms from `RoomManager.room_stats()`; POST actions kick a player, close a
room or broadcast a server notice. Every view is async, so under daphne it
runs on the event loop that runs the rooms and calls the manager directly.

Access: staff users only (`is_staff`, logged in through the admin or any
session). The HTML views use Django's `staff_member_required` (a redirect to
the admin login); the JSON answers refuse with the contract's 403 shape.
POSTs are cookie-authenticated, so Django's CSRF check applies to them, and
rate limited per user (STAFF_ACTION_RATE_PER_MINUTE, 429 `rate_limited`).

In a cluster each process lists its own rooms: reach a room's monitor through
the load balancer's route for that room (docs/operations.md).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, overload

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from engine.errors import CodedError
from engine.protocol import valid_room_name
from gameserver.manager import get_manager
from lobby.http import error_response
from lobby.ratelimit import rate_limit

NOTICE_MAX_CHARS = 200

AsyncView = Callable[..., Coroutine[Any, Any, HttpResponse]]

_staff_action_rate = rate_limit(
    "staff_action", lambda: settings.ARENA.staff_action_rate_per_minute, by="user"
)
"""Every action counts per staff user (per client IP for callers not logged in)."""


class ActionError(CodedError):
    """A staff action was refused; `code` names why."""


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "") or request.GET.get(
        "format"
    ) == "json"


@overload
def staff_only(view: AsyncView, *, json_only: bool = False) -> AsyncView: ...
@overload
def staff_only(
    view: None = None, *, json_only: bool = False
) -> Callable[[AsyncView], AsyncView]: ...
def staff_only(
    view: AsyncView | None = None, *, json_only: bool = False
) -> AsyncView | Callable[[AsyncView], AsyncView]:
    """JSON callers get 401/403 JSON; browsers get staff_member_required's login redirect."""
    if view is None:
        return functools.partial(staff_only, json_only=json_only)
    html_view = staff_member_required(view)

    @functools.wraps(view)
    async def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if json_only or _wants_json(request):
            user = await request.auser()
            if not user.is_authenticated:
                return error_response(401, "not_authenticated", "log in as a staff user")
            if not (user.is_active and user.is_staff):
                return error_response(403, "forbidden", "staff only")
            return await view(request, *args, **kwargs)
        return await html_view(request, *args, **kwargs)

    return inner


def _rooms() -> list[dict[str, Any]]:
    return sorted(get_manager().room_stats(), key=lambda room: room["name"])


def _room(request: HttpRequest, required: bool = True) -> str | None:
    name = request.POST.get("room", "").strip()
    if not name and not required:
        return None
    if not valid_room_name(name):
        raise ActionError("invalid", "room: 1-64 characters of A-Z a-z 0-9 _ -")
    return name


@staff_only
async def rooms_page(request: HttpRequest) -> HttpResponse:
    """GET /staff/rooms/: the live rooms table and the action forms."""
    if _wants_json(request):
        return JsonResponse({"rooms": _rooms()})
    return TemplateResponse(request, "gameserver/rooms.html", {"rooms": _rooms()})


@staff_only(json_only=True)
async def rooms_json(request: HttpRequest) -> HttpResponse:
    """GET /staff/rooms.json: {"rooms": [{name, phase, tick, players, seats, ...}]}."""
    return JsonResponse({"rooms": _rooms()})


async def _act(request: HttpRequest, action: Callable[[], Awaitable[str]]) -> HttpResponse:
    try:
        done = await action()
    except ActionError as exc:
        if _wants_json(request):
            return error_response(400, exc.code, exc.message)
        messages.error(request, exc.message)
        return redirect("staff-rooms")
    if _wants_json(request):
        return JsonResponse({"ok": True, "done": done})
    messages.success(request, done)
    return redirect("staff-rooms")


@require_POST
@_staff_action_rate
@staff_only
async def kick(request: HttpRequest) -> HttpResponse:
    """POST room, user_id: close the player's sockets (4011) and take them out of the match."""

    async def action() -> str:
        room = _room(request)
        assert room is not None
        try:
            user_id = int(request.POST.get("user_id", ""))
        except ValueError:
            raise ActionError("invalid", "user_id: an integer") from None
        await get_manager().kick(room, user_id)
        return f"kicked player {user_id} from {room}"

    return await _act(request, action)


@require_POST
@_staff_action_rate
@staff_only
async def close(request: HttpRequest) -> HttpResponse:
    """POST room: stop the room's engine; its sockets close with 4004."""

    async def action() -> str:
        room = _room(request)
        assert room is not None
        if room not in get_manager().engines:
            raise ActionError("not_found", f"room {room} does not run in this process")
        await get_manager().close_room(room, "closed by staff")
        return f"closed room {room}"

    return await _act(request, action)


@require_POST
@_staff_action_rate
@staff_only
async def announce(request: HttpRequest) -> HttpResponse:
    """POST text, room (optional: every room): a `notice` frame to the room's sockets."""

    async def action() -> str:
        room = _room(request, required=False)
        text = request.POST.get("text", "").strip()
        if not 1 <= len(text) <= NOTICE_MAX_CHARS or not text.isprintable():
            raise ActionError("invalid", f"text: 1-{NOTICE_MAX_CHARS} printable characters")
        await get_manager().announce(text, room=room)
        return f"announced to {room or 'every room'}"

    return await _act(request, action)
