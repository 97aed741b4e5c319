"""Guest accounts: the HTTP API that creates a player and hands out a token."""

from __future__ import annotations

import uuid
from typing import Annotated

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import AfterValidator, BaseModel, ConfigDict

from lobby import tokens
from lobby.http import api, parse_body
from lobby.models import User
from lobby.ratelimit import rate_limit


def _display_name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 24:
        raise ValueError("must be 1 to 24 characters")
    if not value.isprintable():
        raise ValueError("must be printable characters only")
    return value


DisplayName = Annotated[str, AfterValidator(_display_name)]


class GuestRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    name: DisplayName


def create_guest(name: str) -> User:
    user = User(username=f"guest-{uuid.uuid4().hex}", display_name=name, is_guest=True)
    user.set_unusable_password()
    user.save()
    return user


# Logging in is what creates the session, so there is no CSRF token yet; the
# endpoint only ever creates a fresh guest, which an attacker gains nothing by.
@csrf_exempt
@rate_limit("guest", lambda: settings.ARENA.guest_rate_per_minute, by="ip")
@api("POST")
def guest_session(request: HttpRequest) -> HttpResponse:
    """POST /api/session/guest {"name"} → 201 {"user": {"id","name"}, "token"}."""
    body = parse_body(request, GuestRequest)
    user = create_guest(body.name)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"user": user.public, "token": tokens.issue(user)}, status=201)


@api("GET", login=True)
def me(request: HttpRequest) -> HttpResponse:
    """GET /api/session → the logged-in user and a fresh token (for browser pages)."""
    user = request.user
    assert isinstance(user, User)
    return JsonResponse({"user": user.public, "token": tokens.issue(user)})
