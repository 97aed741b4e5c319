"""WebSocket authentication and origin checks for every socket.

Browsers authenticate with the session cookie (Channels' AuthMiddlewareStack);
other clients put `?token=<token>` on the URL. A bad token leaves the user
anonymous and records why in `scope["auth_error"]`: consumers accept, then
close with 4001, so every client can read the reason (docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from lobby import tokens

if TYPE_CHECKING:
    from lobby.models import User


def query_param(scope: Mapping[str, Any], name: str) -> str | None:
    """The first value of a query-string parameter, or None."""
    raw = scope.get("query_string", b"")
    try:
        values = parse_qs(raw.decode("latin-1"), max_num_fields=20).get(name)
    except ValueError:
        return None
    return values[0] if values else None


@database_sync_to_async
def _user_for(token: str) -> User:
    return tokens.user_for(token)


class TokenAuthMiddleware:
    """Sets `scope["user"]` from `?token=` when present, over the session's user."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token = query_param(scope, "token")
        if token is not None:
            scope = dict(scope)
            try:
                scope["user"] = await _user_for(token)
            except tokens.TokenError as exc:
                scope["user"] = AnonymousUser()
                scope["auth_error"] = exc.code
        return await self.app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin: it must be one of ALLOWED_HOSTS.

    Non-browser clients send none; they cannot be cross-site-hijacked and
    authenticate with a token, so a missing Origin is let through.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def socket_auth(app: Any) -> Any:
    """Origin check → session auth → token auth → `app`."""
    return BrowserOriginValidator(
        AuthMiddlewareStack(TokenAuthMiddleware(app)), settings.ALLOWED_HOSTS
    )


def scope_user(scope: Mapping[str, Any]) -> User | None:
    """The authenticated user of a socket's scope, or None."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        # One of ours: set by TokenAuthMiddleware or channels' lazy session user.
        return cast("User", user)
    return None


def is_authenticated(scope: Mapping[str, Any]) -> bool:
    return scope_user(scope) is not None
