"""The browser client's pages: the lobby at `/` and a game room at `/play/<room>/`.

Both are static shells: everything live comes from the HTTP API and the
sockets, driven by the ES modules in `static/client/js/`. The pages set the
CSRF cookie so the scripts can send `X-CSRFToken` on cookie-authenticated
POSTs.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET


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
    """GET /play/<room_name>/ → the game page of one room (name checked by the URL pattern)."""
    context = {"room": {"room": room_name}, "room_name": room_name}
    return render(request, "client/game.html", context)
