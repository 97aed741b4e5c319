"""Sessions: create a guest (and log the browser in), read the session, log out.

`POST /api/session/guest` cannot be CSRF-token-protected (the visitor has no
session yet), so it refuses browser requests from other sites by their
`Origin`/`Referer` (lobby/origin.py). `POST /api/session/logout` ends the
session and revokes every bearer token of the user.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, UNUSABLE_PASSWORD_SUFFIX_LENGTH
from django.contrib.auth.models import update_last_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import RANDOM_STRING_CHARS
from django.views.decorators.csrf import csrf_exempt
from pydantic import AfterValidator, BaseModel, ConfigDict

from lobby import origin, push, tokens
from lobby.http import ApiError, api, parse_body
from lobby.models import User, new_token_key
from lobby.randomness import random_string
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


def unusable_password() -> str:
    """What Django's `set_unusable_password()` stores (`!` and 40 random characters, so no
    password ever matches), drawn in one read of the random source (lobby/randomness.py)."""
    return UNUSABLE_PASSWORD_PREFIX + random_string(UNUSABLE_PASSWORD_SUFFIX_LENGTH,
                                                    RANDOM_STRING_CHARS)


def create_guest(name: str) -> User:
    """A new guest user, inserted with its last login (it is logged in at once)."""
    user = User(username=f"guest-{uuid.uuid4().hex}", display_name=name, is_guest=True,
                last_login=timezone.now(), password=unusable_password())
    user.save()
    user.logged_in_at_creation = True  # type: ignore[attr-defined]
    return user


def record_last_login(sender: type, user: User, **kwargs: object) -> None:
    """Django's `update_last_login` (on `user_logged_in`), except for a user whose row was
    just inserted with its last login (`create_guest`): one UPDATE less per guest session.

    Connected in place of Django's receiver by `lobby.apps.LobbyConfig.ready`.
    """
    if getattr(user, "logged_in_at_creation", False):
        return
    update_last_login(sender, user, **kwargs)


# Logging in is what creates the session, so there is no CSRF token yet: the
# login-CSRF defence is the Origin/Referer check (lobby/origin.py) instead.
@csrf_exempt
@rate_limit("guest", lambda: settings.ARENA.guest_rate_per_minute, by="ip")
@api("POST")
def guest_session(request: HttpRequest) -> HttpResponse:
    """POST /api/session/guest {"name"} → 201 {"user": {"id","name"}, "token"}.

    A browser request from another site (its `Origin`, or without one its
    `Referer`, is not this site's) is refused with 403 `csrf_failed` before
    anything is created; requests with neither header are served.
    """
    foreign = origin.foreign_origin(request)
    if foreign is not None:
        raise ApiError(403, "csrf_failed",
                       f"CSRF check failed: a login from {foreign!r} is not from this site")
    body = parse_body(request, GuestRequest)
    # One write, the user with its last login, in autocommit (no BEGIN and
    # COMMIT round trips): logging in writes nothing (lobby/sessionstore.py
    # inserts the session row with its data as the response goes out, and
    # `record_last_login` skips the user just inserted).
    user = create_guest(body.name)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"user": user.public, "token": tokens.issue(user)}, status=201)


@api("GET", login=True)
def me(request: HttpRequest) -> HttpResponse:
    """GET /api/session → the logged-in user and a fresh token (for browser pages)."""
    user = request.user
    assert isinstance(user, User)
    return JsonResponse({"user": user.public, "token": tokens.issue(user)})


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")


REVOKED = "lobby.revoked"
"""Channel-layer message to a user's group: their lobby sockets close with 4001."""


def revoke_tokens(user: User) -> None:
    """Rotate `user.token_key`: every bearer token issued so far stops working.

    Then tell the user's open lobby sockets (their `user.<id>` group) to
    close with 4001. Game sockets are not told (they have no per-user
    channel): they stay until they close, and cannot reconnect with a
    revoked token (docs/protocol.md).
    """
    user.token_key = new_token_key()
    User.objects.filter(pk=user.pk).update(token_key=user.token_key)
    push.send_sync(push.user_group(user.pk), {"type": REVOKED})


@rate_limit("logout", lambda: settings.ARENA.logout_rate_per_minute, by="user")
@api("POST", login=True)
def logout_session(request: HttpRequest) -> HttpResponse:
    """POST /api/session/logout {} → {"logged_out": true}.

    Authenticated by the session cookie (CSRF-checked) or a bearer token.
    Ends this session (the cookie no longer logs in) and revokes every
    bearer token of the user; their open lobby sockets close with 4001.
    """
    parse_body(request, LogoutRequest)
    user = request.user
    assert isinstance(user, User)
    revoke_tokens(user)
    logout(request)
    return JsonResponse({"logged_out": True})
