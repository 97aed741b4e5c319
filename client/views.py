"""The browser client's pages: the lobby at `/`, a game room at `/play/<room>/`
and the replay viewer at `/replay/<match_id>/`.

All are static shells: everything live comes from the HTTP API and the
sockets, driven by the ES modules in `static/client/js/`. The pages set the
CSRF cookie so the scripts can send `X-CSRFToken` on cookie-authenticated
POSTs.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from engine.registry import load_games

SLUG_RE = re.compile(r"[a-z0-9_]{1,32}")
"""The ids the play page may load as `games/<id>.js` (games/index.js checks them again)."""


@lru_cache(maxsize=8)
def _offered(paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(gid for gid in load_games(paths) if SLUG_RE.fullmatch(gid))


def offered_games() -> list[str]:
    """The ids of the games this server offers (`GAMES`) that are slugs, in `GAMES` order."""
    return list(_offered(tuple(settings.GAMES)))


@require_GET
@never_cache
@ensure_csrf_cookie
def lobby(request: HttpRequest) -> HttpResponse:
    """GET / → the lobby page."""
    return render(request, "client/lobby.html")


@require_GET
@never_cache
@ensure_csrf_cookie
def play(request: HttpRequest, room_name: str) -> HttpResponse:
    """GET /play/<room_name>/ → the game page of one room (name checked by the URL pattern).

    The page carries the offered game ids (`offered-games`): games/index.js loads
    the client module `games/<id>.js` of a game outside its fixed map only if its
    id is among them."""
    context = {"room": {"room": room_name}, "room_name": room_name,
               "offered_games": offered_games()}
    return render(request, "client/game.html", context)


@require_GET
@never_cache
@ensure_csrf_cookie
def replay(request: HttpRequest, match_id: int) -> HttpResponse:
    """GET /replay/<match_id>/ -> the replay viewer of one match.

    The page fetches `GET /api/matches/<match_id>/replay` (which decides who may
    see it) and plays it with the client module of the match's game, loaded
    like the play page's (`offered-games`)."""
    context = {"replay": {"match_id": match_id, "url": f"/api/matches/{match_id}/replay"},
               "match_id": match_id, "offered_games": offered_games()}
    return render(request, "client/replay.html", context)
