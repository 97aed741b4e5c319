"""Per-socket frame limits: a token bucket each socket owns."""

from __future__ import annotations

from time import monotonic


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one per frame."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = monotonic()

    def allow(self) -> bool:
        # Every frame of every socket comes here: `monotonic` bound at import
        # and a comparison instead of `min()` (a builtin call) keep it short.
        now = monotonic()
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens < 1:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1
        return True
