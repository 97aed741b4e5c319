"""One instance of a thing per running event loop (one per server process).

Room managers and lobby hubs hold tasks and futures bound to the loop that
made them; tests run each case on a new loop. Keyed weakly by loop, a closed
loop's instance goes with it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """`get()` returns the running loop's instance, made by `factory` on first use."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def peek(self) -> T | None:
        """The running loop's instance, or None if none was made yet."""
        return self._instances.get(asyncio.get_running_loop())

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        instance = self._instances.get(loop)
        if instance is None:
            instance = self._instances[loop] = self._factory()
        return instance
