"""Signed, expiring bearer tokens for non-browser clients.

A token is `django.core.signing.dumps({"u": user_id, "k": token_key})` with a
timestamp, under a salt of its own: it cannot be forged without SECRET_KEY,
expires after TOKEN_TTL_SECONDS, and stops working when the user's
`token_key` is rotated (it is bound to that user, not only to an id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

from engine.errors import CodedError

if TYPE_CHECKING:
    from lobby.models import User

SALT = "arena.bearer-token.v1"
MAX_TOKEN_CHARS = 512


class TokenError(CodedError):
    """A token is malformed, forged, expired or revoked; `code` says which."""


def issue(user: User) -> str:
    """A new token for `user`."""
    return signing.dumps({"u": user.pk, "k": user.token_key}, salt=SALT, compress=False)


Claims = tuple[int, str]
"""A token's (user id, token key), once its signature and age are checked."""


def claims(token: str) -> Claims:
    """The claims of a well-signed, unexpired token, or TokenError; no database access.

    Whether the token is still valid (its user active, its key current) is
    `user_for_claims`: a socket checks it in the same database call that
    seats it (lobby.rooms.join).
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("bad_token", "token is malformed")
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.ARENA.token_ttl_seconds)
    except signing.SignatureExpired:
        raise TokenError("token_expired", "token has expired") from None
    except (signing.BadSignature, ValueError, UnicodeError):
        raise TokenError("bad_token", "token signature is invalid") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("u"), int)
        or not isinstance(data.get("k"), str)
    ):
        raise TokenError("bad_token", "token is malformed")
    return data["u"], data["k"]


def user_for(token: str) -> User:
    """The active user a token was issued to, or TokenError."""
    return user_for_claims(claims(token))


def user_for_claims(checked: Claims) -> User:
    """The active user whose current token key the claims carry, or TokenError (one query)."""
    from lobby.models import User

    return user_of_claims(checked, User.objects.filter(pk=checked[0], is_active=True).first())


def user_of_claims(checked: Claims, user: User | None) -> User:
    """`user` (the active user with the claims' id, None if there is none) if the
    claims carry its current token key, else TokenError: the check without the query."""
    if user is None or user.pk != checked[0] or not constant_time_compare(
            user.token_key, checked[1]):
        raise TokenError("bad_token", "token was revoked")
    return user
