"""WebSocket authentication and origin checks for every socket.

Browsers authenticate with the session cookie (Channels' AuthMiddlewareStack);
other clients put `?token=<token>` on the URL, which wins over the cookie. A
bad token leaves the user anonymous and records why in `scope["auth_error"]`:
consumers accept, then close with 4001, so every client can read the reason
(docs/protocol.md).

The middleware checks only what needs no database: a token's signature and
age. Its claims wait in `scope["token_claims"]` for the consumer, which checks
them against the user's current token key in the database call it makes
anyway: the game socket in the call that seats it (`lobby.rooms.join`), the
lobby socket through `aresolve_user`. So a revoked token is refused by the
next socket at once, and a join costs one database call, not two or three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from lobby import push, tokens

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


class TokenAuthMiddleware:
    """`?token=`: its claims (signature and age checked) go to `scope["token_claims"]`,
    or its error to `scope["auth_error"]`; the user stays anonymous until a consumer
    resolves it. Without a token: the session's user (Channels' auth stack), whose
    session read a token socket never pays for."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.session_app: Any = AuthMiddlewareStack(app)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token = query_param(scope, "token")
        if token is None:
            return await self.session_app(scope, receive, send)
        scope = dict(scope)
        scope["user"] = AnonymousUser()
        try:
            scope["token_claims"] = tokens.claims(token)
        except tokens.TokenError as exc:
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
    """Origin check → token claims, or else session auth → `app`."""
    return BrowserOriginValidator(TokenAuthMiddleware(app), settings.ALLOWED_HOSTS)


def scope_user(scope: Mapping[str, Any]) -> User | None:
    """The authenticated user of a socket's scope, or None."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        # One of ours: set by TokenAuthMiddleware or channels' lazy session user.
        return cast("User", user)
    return None


def is_authenticated(scope: Mapping[str, Any]) -> bool:
    return scope_user(scope) is not None


async def aresolve_user(scope: dict[str, Any]) -> User | None:
    """The socket's user: the session's, or the token's (one query, then kept in
    `scope["user"]`); None when there is none, with `scope["auth_error"]` set if
    the token was refused."""
    user = scope_user(scope)
    checked = scope.get("token_claims")
    if user is None and checked is not None:
        try:
            user = await push.run_sync(tokens.user_for_claims, checked)
        except tokens.TokenError as exc:
            scope["auth_error"] = exc.code
            return None
        scope["user"] = user
    return user
