"""Rate limits: token buckets for socket frames, cache windows for the HTTP API.

Sockets: each connection has a `TokenBucket` (game and lobby consumers).

HTTP:

A fixed one-minute window per (scope, key): the key is the client's IP for
calls made before login (guest creation) and the user's id after it
(matchmaking). The cache is the process's memory by default and Redis when
REDIS_URL is set (settings.CACHES), so behind a load balancer every process
counts against the same budget. Over the limit: `429` with the contract's
error shape (`rate_limited`) and a `Retry-After` header.

Chat has its own per-user limit across tabs (lobby/chat.py).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, Literal

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

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
    """The peer address as the ASGI server saw it (behind a proxy: run daphne --proxy-headers)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def rate_limit(
    scope: str, limit: Callable[[], int], by: Literal["ip", "user"] = "ip"
) -> Callable[[View], View]:
    """Refuse a view's calls over `limit()` per minute per client IP or per user.

    `by="user"` counts anonymous callers by IP (the view itself then refuses
    them). `limit` is read at call time, so tests and settings overrides apply.
    """

    def wrap(view: View) -> View:
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = getattr(request, "user", None)
            if by == "user" and user is not None and user.is_authenticated:
                key = f"user:{user.pk}"
            else:
                key = f"ip:{client_ip(request)}"
            wait = hit(scope, key, limit())
            if wait is not None:
                from gameserver import metrics

                metrics.HTTP_RATE_LIMITED.labels(scope).inc()
                response = error_response(
                    429, "rate_limited", f"too many requests; try again in {math.ceil(wait)} s"
                )
                response["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
            return view(request, *args, **kwargs)

        return inner

    return wrap
