"""Rate limits of the HTTP API, counted in the cache (sockets: gameserver/net/limits.py).

A sliding one-minute window per (scope, key) (`hit`): the key is the client's IP for
calls made before login (guest creation, admin login) and the user's id
after it (matchmaking, room creation, notifications, logout, staff actions).
The client IP is `lobby.client_address`'s answer, so behind a trusted proxy
it is the real client's, and a spoofed `X-Forwarded-For` buys no budget.
The cache is the process's memory by default and Redis when
REDIS_URL is set (settings.CACHES), so behind a load balancer every process
counts against the same budget. On Redis a call is one round trip (a script
that increments, sets the expiry of a new count and reads the previous
window's, under the cache's own key names); elsewhere it goes through
Django's cache API. Over the limit: `429` with the contract's
error shape (`rate_limited`) and a `Retry-After` header.

Chat has its own per-user limit across tabs (lobby/chat.py).
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar, cast

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from lobby import client_address, metrics
from lobby.http import error_response

WINDOW_SECONDS = 60


View = TypeVar("View", bound=Callable[..., HttpResponse | Awaitable[HttpResponse]])
"""A sync or an async view; `rate_limit` returns a view of the same type."""


def hit(
    scope: str, key: str, limit: int, window: int = WINDOW_SECONDS, *, now: float | None = None
) -> float | None:
    """Count one call; None if it is within `limit` per `window`, else seconds to wait.

    A sliding window: calls are counted per fixed window (one atomic cache
    increment), and the previous window's count is weighted by the share of
    it that still lies within the last `window` seconds. So a burst that
    straddles a window boundary gets no fresh budget, unlike a fixed window.
    Refused calls count too: a client that keeps hammering stays refused.
    `now` (Unix seconds) defaults to the clock.
    """
    now = time.time() if now is None else now
    bucket = int(now // window)
    elapsed = now / window - bucket  # share of the current window gone, in [0, 1)
    count, previous = _count(f"ratelimit:{scope}:{key}:{bucket}",
                             f"ratelimit:{scope}:{key}:{bucket - 1}", 2 * window + 1)
    if count + previous * (1 - elapsed) <= limit:
        return None
    return _wait(count, previous, elapsed, limit) * window


_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('GET', KEYS[2])}
"""
"""Count a call in the current window (a new count expires after ARGV[1] seconds)
and read the previous window's: atomic, one round trip."""


def _count(current: str, previous: str, timeout: int) -> tuple[int, int]:
    """(this window's count with this call, the previous window's count)."""
    location = _redis_location()
    if location is None:
        return _incr(current, timeout), int(cache.get(previous, 0))
    # The keys are the cache's own (KEY_PREFIX, VERSION): cache.get reads them.
    count, before = _count_script(location)(
        keys=[cache.make_key(current), cache.make_key(previous)], args=[timeout]
    )
    return int(count), int(before or 0)


def _redis_location() -> str | None:
    """The Redis URL the default cache writes to, or None when it is not on Redis."""
    conf = settings.CACHES.get("default", {})
    if conf.get("BACKEND") != _REDIS_CACHE:
        return None
    location = conf["LOCATION"]
    # Django's RedisCache writes to the first of its servers (a list, or one
    # string of URLs separated by "," or ";").
    servers = re.split("[;,]", location) if isinstance(location, str) else list(location)
    return str(servers[0])


@functools.cache
def _count_script(url: str) -> Any:
    """The counting script on a client of its own for `url` (one connection pool per process)."""
    return redis.Redis.from_url(url).register_script(_COUNT_SCRIPT)


def _incr(cache_key: str, timeout: int) -> int:
    """This window's count with this call, through the cache API (a cache not on Redis)."""
    # The count exists for all but a window's first call: increment first.
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # the window's first call (or the key just expired)
        pass
    if cache.add(cache_key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(cache_key))  # another caller added it meanwhile
    except ValueError:  # and it expired again at once
        cache.add(cache_key, 1, timeout=timeout)
        return 1


def _wait(count: int, previous: int, elapsed: float, limit: int) -> float:
    """Windows to wait until one more call fits (the estimate for it <= limit)."""
    if count + 1 <= limit:
        # Within this window, once enough of the previous one has slid out.
        share = 1 - (limit - count - 1) / previous if previous else 0.0
        return max(share - elapsed, 0.0)
    # In the next window this one's calls are the weighted previous ones.
    share = 1 - (limit - 1) / count if count else 0.0
    return (1 - elapsed) + max(share, 0.0)


def client_ip(request: HttpRequest) -> str:
    """The client's address (lobby/client_address.py: trusted proxies, X-Forwarded-For)."""
    return client_address.for_request(request).ip


def _refusal(scope: str, wait: float) -> HttpResponse:
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

            return cast(View, ainner)

        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if counted(request):
                wait = hit(scope, _key(request, by), limit())
                if wait is not None:
                    return _refusal(scope, wait)
            # Not a coroutine function (checked above): a sync view's response.
            return cast(HttpResponse, view(request, *args, **kwargs))

        return cast(View, inner)

    return wrap
