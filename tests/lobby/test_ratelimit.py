"""The HTTP rate limit's sliding window (lobby.ratelimit.hit)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lobby.ratelimit import hit
from tests.servers import RedisServer

WINDOW = 60
T0 = 1_800_000_000.0  # a window boundary (divisible by 60)


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    from django.core.cache import cache

    cache.clear()


def test_a_burst_across_a_window_boundary_gets_no_fresh_budget() -> None:
    assert hit("t", "k", 2, now=T0 - 0.5) is None
    assert hit("t", "k", 2, now=T0 - 0.4) is None
    wait = hit("t", "k", 2, now=T0 + 0.1)
    assert wait is not None and 0 < wait <= 2 * WINDOW


def test_the_budget_comes_back_as_the_old_calls_slide_out() -> None:
    for i in range(3):
        assert hit("t", "k", 3, now=T0 + i) is None
    assert hit("t", "k", 3, now=T0 + 5) is not None
    # Two windows later nothing of the burst is left.
    assert hit("t", "k", 3, now=T0 + 2 * WINDOW + 1) is None


def test_keys_and_scopes_count_apart() -> None:
    assert hit("t", "a", 1, now=T0) is None
    assert hit("t", "b", 1, now=T0) is None
    assert hit("u", "a", 1, now=T0) is None
    assert hit("t", "a", 1, now=T0 + 1) is not None


@settings(max_examples=100, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=20),
    start=st.floats(min_value=0, max_value=WINDOW, allow_nan=False),
    gaps=st.lists(st.floats(min_value=0, max_value=0.5, allow_nan=False), min_size=1,
                  max_size=60),
)
def test_within_one_second_never_more_than_the_limit_pass(
    limit: int, start: float, gaps: list[float]
) -> None:
    """Calls packed into any second (wherever it falls) pass at most `limit` times."""
    from django.core.cache import cache

    cache.clear()
    now, passed = T0 + start, 0
    for gap in gaps:
        now += gap / len(gaps)  # the whole burst spans under half a second
        if hit("p", "k", limit, now=now) is None:
            passed += 1
    assert passed <= limit


def test_the_wait_is_long_enough() -> None:
    for i in range(4):
        hit("t", "k", 3, now=T0 + 30 + i * 0.01)
    wait = hit("t", "k", 3, now=T0 + 31)
    assert wait is not None
    assert hit("t", "k", 3, now=T0 + 31 + wait + 0.5) is None


@pytest.mark.redis
def test_on_redis_every_process_counts_against_one_budget_in_one_round_trip_a_call(
    redis_server: RedisServer,
) -> None:
    """As with REDIS_URL (gameserver/settings.py): the count lives in Redis."""
    import redis
    from django.core.cache import caches
    from django.test import override_settings

    store = redis.Redis.from_url(redis_server.url)
    on_redis = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_server.url,
        "KEY_PREFIX": f"rl-{T0}",
        "OPTIONS": {"pool_class": "gameserver.cachepool.SharedConnectionPool"},
    }}

    def commands() -> Counter[str]:
        stats = store.info("commandstats")
        return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
                        if k != "cmdstat_info"})

    with override_settings(CACHES=on_redis):
        caches["default"].clear()
        assert hit("r", "k", 3, now=T0 + 1) is None  # the window's first call
        before = commands()
        assert hit("r", "k", 3, now=T0 + 2) is None
        # One round trip: one script, which increments this window's count and
        # reads the previous window's (Redis counts the commands a script runs).
        assert commands() - before == Counter({"evalsha": 1, "incr": 1, "get": 1})
        assert hit("r", "k", 3, now=T0 + 3) is None
        # The count is in Redis under the cache's own key, where every process
        # reads it (and Django's cache API too), and it expires.
        bucket = int(T0 // WINDOW)
        key = f"rl-{T0}:1:ratelimit:r:k:{bucket}"
        assert store.get(key) == b"3"
        assert caches["default"].get(f"ratelimit:r:k:{bucket}") == 3
        assert 0 < store.ttl(key) <= 2 * WINDOW + 1
        assert hit("r", "k", 3, now=T0 + 4) is not None
        # The previous window's count slides: at a quarter into the next
        # window, 4 * 0.75 = 3 calls are still counted, and a limit of 3 is full.
        assert hit("r", "k", 3, now=T0 + WINDOW + WINDOW / 4) is not None
        assert hit("r", "k2", 3, now=T0 + WINDOW + WINDOW / 4) is None
        caches["default"].clear()
