"""One Redis connection pool per process for Django's cache (`CACHES` on Redis).

Django makes a new cache object for each request (its cache handler is
context-local, and under ASGI every request runs in a context of its own),
and the object's Redis client keeps the connection pools it made. So every
request that touched the cache (a guest session's rate limit, for one)
opened a new TCP connection to Redis, said `HELLO`, and left the connection
to the garbage collector: a join storm of 400 guest sessions opened 405
connections, and one process made 91-98 sessions a second against 204-206
without Redis (docs/benchmarks.md).

`SharedConnectionPool` is the pool class the settings give Django's
`RedisCache` (its documented `pool_class` option): `from_url` hands back the
pool already made in this process for the same URL and options, so requests
borrow connections from one pool and return them. redis-py's pools are
thread-safe and reset themselves in a forked child.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import redis


class SharedConnectionPool(redis.ConnectionPool):
    """A `redis.ConnectionPool` whose `from_url` returns one pool per URL and options."""

    _made: ClassVar[dict[tuple[str, str], SharedConnectionPool]] = {}
    _made_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SharedConnectionPool:
        # The options are plain values and classes (Django passes its parser
        # class): their sorted repr tells two option sets apart.
        key = (url, repr(sorted(kwargs.items())))
        with cls._made_lock:
            pool = cls._made.get(key)
            if pool is None:
                pool = cls._made[key] = super().from_url(url, **kwargs)
            return pool
