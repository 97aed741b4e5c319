"""A clock the test moves by hand, for code that reads `time.monotonic()`.

Patch it in where the code looks the time up: as the `time` module of a
module that calls `time.monotonic()`, or as the `monotonic` it imported.
"""

from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    __call__ = monotonic
