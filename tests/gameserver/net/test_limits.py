"""The per-socket frame limit (`TokenBucket`): a flood is cut off, a steady client is not."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameserver.net import limits
from gameserver.net.limits import TokenBucket
from tests.clock import ManualClock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    c = ManualClock()
    monkeypatch.setattr(limits, "monotonic", c)
    return c


def test_a_burst_then_the_rate(clock: ManualClock) -> None:
    bucket = TokenBucket(rate=10, burst=5)
    assert [bucket.allow() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.25  # 2.5 tokens earned
    assert [bucket.allow() for _ in range(3)] == [True, True, False]
    clock.now += 60  # a long silence saves up the burst, no more
    assert sum(bucket.allow() for _ in range(20)) == 5


def test_a_refused_frame_costs_nothing(clock: ManualClock) -> None:
    bucket = TokenBucket(rate=10, burst=1)
    assert bucket.allow()
    for _ in range(100):
        assert not bucket.allow()
    clock.now += 0.1
    assert bucket.allow()


@given(
    rate=st.integers(1, 200),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 0.5, allow_nan=False), min_size=1, max_size=300),
)
def test_no_window_lets_more_than_burst_plus_rate_times_its_length(
    rate: int, burst: int, gaps: list[float]
) -> None:
    clock = ManualClock()
    with mock.patch.object(limits, "monotonic", clock):
        bucket = TokenBucket(rate=rate, burst=burst)
        allowed: list[float] = []
        for gap in gaps:
            clock.now += gap
            if bucket.allow():
                allowed.append(clock.now)
        # And a client that stays within the rate (1 % under it) is never refused.
        steady = TokenBucket(rate=rate, burst=burst)
        for _ in range(50):
            clock.now += 1.01 / rate
            assert steady.allow()
    # Over any stretch of time, at most the burst plus what the rate earns in it.
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= burst + rate * (allowed[j] - start) + 1e-6
