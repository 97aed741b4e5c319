"""Rate limits: token buckets for socket frames, cache windows for the HTTP API.

Sockets: each connection has a `TokenBucket` (game and lobby consumers).

HTTP:

A fixed one-minute window per (scope, key): the key is the client's IP for
calls made before login (guest creation, admin login) and the user's id
after it (matchmaking, room creation, notifications, logout, staff actions).
The client IP is `lobby.client_address`'s answer, so behind a trusted proxy
it is the real client's, and a spoofed `X-Forwarded-For` buys no budget.
The cache is the process's memory by default and Redis when
REDIS_URL is set (settings.CACHES), so behind a load balancer every process
counts against the same budget. Over the limit: `429` with the contract's
error shape (`rate_limited`) and a `Retry-After` header.

Chat has its own per-user limit across tabs (lobby/chat.py).
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from lobby import client_address
from lobby.http import error_response

WINDOW_SECONDS = 60


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one per frame."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

View = Callable[..., HttpResponse]


def hit(scope: str, key: str, limit: int, window: int = WINDOW_SECONDS) -> float | None:
    """Count one call; None if it is within `limit` per `window`, else seconds to wait."""
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{scope}:{key}:{bucket}"
    if cache.add(cache_key, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(cache_key, 1, timeout=window + 1)
            count = 1
    if count <= limit:
        return None
    return (bucket + 1) * window - now


def client_ip(request: HttpRequest) -> str:
    """The client's address (lobby/client_address.py: trusted proxies, X-Forwarded-For)."""
    return client_address.for_request(request).ip


def _refusal(scope: str, wait: float) -> HttpResponse:
    from gameserver import metrics

    metrics.HTTP_RATE_LIMITED.labels(scope).inc()
    response = error_response(
        429, "rate_limited", f"too many requests; try again in {math.ceil(wait)} s"
    )
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _key(request: HttpRequest, by: Literal["ip", "user"]) -> str:
    user = getattr(request, "user", None)
    if by == "user" and user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


def rate_limit(
    scope: str,
    limit: Callable[[], int],
    by: Literal["ip", "user"] = "ip",
    methods: tuple[str, ...] | None = None,
) -> Callable[[View], View]:
    """Refuse a view's calls over `limit()` per minute per client IP or per user.

    `by="user"` counts anonymous callers by client IP (the view itself then
    refuses them). `methods` (e.g. `("POST",)`) counts only those methods;
    None counts every call. `limit` is read at call time, so tests and
    settings overrides apply. Sync and async views are both supported; a
    refused call gets 429 `rate_limited` with `Retry-After` and never reaches
    the view.
    """

    def counted(request: HttpRequest) -> bool:
        return methods is None or request.method in methods

    def wrap(view: View) -> View:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def ainner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                if counted(request):
                    key = await sync_to_async(_key)(request, by)
                    wait = await sync_to_async(hit)(scope, key, limit())
                    if wait is not None:
                        return _refusal(scope, wait)
                response: HttpResponse = await view(request, *args, **kwargs)
                return response

            return ainner

        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if counted(request):
                wait = hit(scope, _key(request, by), limit())
                if wait is not None:
                    return _refusal(scope, wait)
            return view(request, *args, **kwargs)

        return inner

    return wrap
