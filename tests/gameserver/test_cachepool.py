"""Django's cache on Redis borrows connections from one pool per process.

Django makes a new cache object per request; without the shared pool each
one opened a connection of its own (gameserver/cachepool.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import redis
from django.core.cache.backends.redis import RedisCache

from gameserver.cachepool import SharedConnectionPool
from tests.servers import LiveServer, RedisServer, http_json

pytestmark = pytest.mark.redis

POOL = "gameserver.cachepool.SharedConnectionPool"


def named_connections(url: str, name: str) -> int:
    clients = redis.Redis.from_url(url).client_list()
    return sum(1 for client in clients if client.get("name") == name)


def test_cache_objects_made_per_request_share_one_connection(redis_server: RedisServer) -> None:
    name = f"cachepool-{uuid.uuid4().hex[:8]}"
    # As Django makes them: one cache object per request, each kept alive here
    # so that a connection of its own would still be open when counted.
    caches = [RedisCache(redis_server.url, {"OPTIONS": {"pool_class": POOL,
                                                        "client_name": name}})
              for _ in range(12)]
    for i, cache in enumerate(caches):
        cache.set(f"{name}:{i}", i)
        assert cache.get(f"{name}:{i}") == i
    assert named_connections(redis_server.url, name) == 1


def test_a_pool_is_shared_only_for_the_same_url_and_options(redis_server: RedisServer) -> None:
    first = SharedConnectionPool.from_url(redis_server.url, socket_timeout=1)
    assert SharedConnectionPool.from_url(redis_server.url, socket_timeout=1) is first
    assert SharedConnectionPool.from_url(redis_server.url, socket_timeout=2) is not first
    other_db = redis_server.url.rsplit("/", 1)[0] + "/1"
    assert SharedConnectionPool.from_url(other_db, socket_timeout=1) is not first


@pytest.mark.live
def test_a_guest_storm_does_not_open_a_redis_connection_per_request(
    redis_server: RedisServer, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(REDIS_URL=redis_server.url)
    store = redis.Redis.from_url(redis_server.url)

    def guests(count: int) -> None:
        for i in range(count):
            status, body = http_json("POST", f"{server.url}/api/session/guest",
                                     {"name": f"pool{i}"})
            assert status == 201, body

    guests(3)  # the process's own connections are up
    before = int(store.info("stats")["total_connections_received"])
    guests(30)
    opened = int(store.info("stats")["total_connections_received"]) - before
    # Each guest session counts against the rate limit in the cache: with a
    # connection per request this was 30 or more.
    assert opened <= 3
