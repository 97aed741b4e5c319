"""The HTTP API's plumbing: JSON bodies in, the contract's error shape out.

Every 4xx answer is `{"error": {"code": str, "message": str}}` (docs/protocol.md).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from pydantic import BaseModel, ValidationError

from engine.errors import CodedError
from lobby import client_address, tokens

M = TypeVar("M", bound=BaseModel)
View = Callable[..., HttpResponse]


class ApiError(CodedError):
    """Raised inside a view: becomes a JSON error answer with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status = status


def error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def validation_message(exc: ValidationError) -> str:
    """One readable line naming each offending field."""
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_body(request: HttpRequest, model: type[M]) -> M:
    """The request's JSON body validated by `model`; ApiError 400 otherwise."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(413, "too_large", "request body is too large") from None
    if not raw.strip():
        raw = b"{}"
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "invalid", validation_message(exc)) from None


def api(*methods: str, login: bool = False) -> Callable[[View], View]:
    """Decorate an API view: allowed methods, optional login, ApiError → JSON."""

    def wrap(view: View) -> View:
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error_response(
                    405, "method_not_allowed", f"use {' or '.join(methods)}"
                )
                response["Allow"] = ", ".join(methods)
                return response
            if login and not request.user.is_authenticated:
                if getattr(request, "bearer_ignored", False):
                    return error_response(
                        401, "not_authenticated",
                        "the session cookie is not logged in; a request that carries the "
                        "session cookie is authenticated by it alone (its bearer token is "
                        "not used)",
                    )
                return error_response(401, "not_authenticated", "log in or send a bearer token")
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message)

        return inner

    return wrap


class BearerTokenMiddleware:
    """`Authorization: Bearer <token>` authenticates non-browser clients.

    One credential per request, and CSRF follows it:

    - a request **without** the session cookie and with a bearer token is
      authenticated by the token alone; it carries no ambient credential, so
      CSRF checks do not apply to it. A bad token is refused with 401, never
      ignored;
    - a request that carries the session cookie is cookie-authenticated and
      CSRF-checked, whatever else it carries: its `Authorization` header is
      not used at all (`request.bearer_ignored` is set, and a 401 says why).
      So a request can never pass CSRF as the cookie's user while acting as
      a bearer token's user, nor skip CSRF by adding any bearer header.
    """

    OWN_BEARER_PATHS = frozenset({"/metrics"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        # /metrics checks its own bearer token (METRICS_TOKEN), not a user's.
        if header and request.path not in self.OWN_BEARER_PATHS:
            if request.COOKIES.get(settings.SESSION_COOKIE_NAME):
                request.bearer_ignored = True  # type: ignore[attr-defined]
                return self.get_response(request)
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return error_response(401, "bad_token", "Authorization must be 'Bearer <token>'")
            try:
                request.user = tokens.user_for(token.strip())
            except tokens.TokenError as exc:
                request.user = AnonymousUser()
                return error_response(401, exc.code, exc.message)
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)


class ForwardedProtoMiddleware:
    """`X-Forwarded-Proto` counts only when a trusted proxy sent the request.

    Behind a TLS-terminating proxy the app sees plain HTTP; the proxy says
    what the browser used in `X-Forwarded-Proto`, and `SECURE_PROXY_SSL_HEADER`
    makes Django believe it (`request.is_secure()`, so the login `Origin`
    check and Django's CSRF check compare with `https://`). A client could
    write that header too, so it is removed here unless the direct peer is in
    TRUSTED_PROXIES (`lobby/client_address.py`, the one authority on who sent
    a request). This middleware runs first.
    """

    META_KEY = "HTTP_X_FORWARDED_PROTO"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.META_KEY in request.META and not client_address.for_request(request).proxied:
            del request.META[self.META_KEY]
        return self.get_response(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_response(403, "csrf_failed", f"CSRF check failed: {reason}")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(404, "not_found", f"no such resource: {request.path}")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(400, "bad_request", "the request could not be understood")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(403, "forbidden", "not allowed")


def server_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {"error": {"code": "internal", "message": "internal server error"}}, status=500
    )
