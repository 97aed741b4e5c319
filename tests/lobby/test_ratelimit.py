"""The HTTP rate limit's sliding window (lobby.ratelimit.hit)."""

from __future__ import annotations

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
def test_on_redis_every_process_counts_against_one_budget_in_three_commands_a_call(
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

    def commands() -> int:
        stats = store.info("commandstats")
        return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")

    with override_settings(CACHES=on_redis):
        caches["default"].clear()
        assert hit("r", "k", 3, now=T0 + 1) is None  # the window's first call
        spent = commands()
        assert hit("r", "k", 3, now=T0 + 2) is None
        # Increment, then read the previous window: a call after the first
        # costs three commands (EXISTS and INCRBY, GET), each a round trip.
        assert commands() - spent <= 3
        assert hit("r", "k", 3, now=T0 + 3) is None
        # The count is in Redis, where every process reads it.
        bucket = int(T0 // WINDOW)
        assert store.get(f"rl-{T0}:1:ratelimit:r:k:{bucket}") == b"3"
        assert hit("r", "k", 3, now=T0 + 4) is not None
        caches["default"].clear()
