"""An in-process channel layer fit for game rates: the embedded default.

Channels' `InMemoryChannelLayer` sweeps every channel and group membership
for expiry on each send and receive and deep-copies each message per member
(docs/benchmarks.md): its cost per message grows with the number of channels. This
layer does O(1) work per message (O(members) for `group_send`) and sweeps
stale state on a timer instead:

- each channel is a bounded deque; a send to a full channel raises
  `ChannelFull`, and `group_send` skips full members and counts the drop;
- messages are not copied: senders must not mutate a message after sending
  (the runtime only sends immutable bytes and scalars);
- a channel nobody has received from for `expiry` seconds, with its group
  memberships, is removed by a sweep that runs at most every `expiry / 4`
  seconds, so a consumer that died without `group_discard` costs bounded
  memory for a bounded time.

Only one process can use it: set REDIS_URL to run several.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections import deque
from re import Pattern
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer


class _Channel:
    __slots__ = ("capacity", "last_receive", "messages", "waiter")

    def __init__(self, now: float, capacity: int) -> None:
        self.messages: deque[dict[str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.last_receive = now
        self.capacity = capacity


class LocalChannelLayer(BaseChannelLayer):
    """A fast, bounded, single-process channel layer."""

    extensions = ["groups", "flush"]

    def __init__(
        self,
        expiry: int = 60,
        capacity: int = 256,
        channel_capacity: dict[Pattern[str] | str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity)
        # BaseChannelLayer keeps the raw dict; get_capacity wants it compiled
        # (types-channels declares the attribute as the raw dict).
        self.channel_capacity = self.compile_capacities(  # type: ignore[assignment]
            channel_capacity or {}
        )
        self._channels: dict[str, _Channel] = {}
        self._groups: dict[str, set[str]] = {}
        self._memberships: dict[str, set[str]] = {}
        self._next_sweep = time.monotonic() + expiry / 4
        self.dropped = 0
        """Messages `group_send` skipped because a member's channel was full."""

    # Channel layer API -----------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self._maybe_sweep()
        if not self._deliver(channel, message):
            raise ChannelFull(channel)

    async def receive(self, channel: str) -> dict[str, Any]:
        assert self.require_valid_channel_name(channel)
        now = time.monotonic()
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = self._new(channel, now)
        entry.last_receive = now
        while not entry.messages:
            if entry.waiter is not None and not entry.waiter.done():
                raise RuntimeError(f"two concurrent receives on channel {channel}")
            entry.waiter = asyncio.get_running_loop().create_future()
            try:
                await entry.waiter
            finally:
                entry.waiter = None
                entry.last_receive = time.monotonic()
            # A sweep may have dropped the entry while it waited.
            entry = self._channels.setdefault(channel, entry)
        return entry.messages.popleft()

    async def new_channel(self, prefix: str = "specific") -> str:
        suffix = "".join(random.choices(string.ascii_letters, k=12))
        name = f"{prefix}.local!{suffix}"
        self._channels[name] = self._new(name, time.monotonic())
        return name

    async def group_add(self, group: str, channel: str) -> None:
        assert self.require_valid_group_name(group)
        assert self.require_valid_channel_name(channel)
        self._groups.setdefault(group, set()).add(channel)
        self._memberships.setdefault(channel, set()).add(group)
        if channel not in self._channels:
            self._channels[channel] = self._new(channel, time.monotonic())

    async def group_discard(self, group: str, channel: str) -> None:
        members = self._groups.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self._groups[group]
        groups = self._memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._memberships[channel]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert self.require_valid_group_name(group)
        self._maybe_sweep()
        for channel in tuple(self._groups.get(group, ())):
            if not self._deliver(channel, message):
                self.dropped += 1

    async def flush(self) -> None:
        for entry in self._channels.values():
            if entry.waiter is not None and not entry.waiter.done():
                entry.waiter.cancel()
        self._channels.clear()
        self._groups.clear()
        self._memberships.clear()

    async def close(self) -> None:
        """Nothing to release: all state is in this process."""

    # Internals ---------------------------------------------------------------

    def _deliver(self, channel: str, message: dict[str, Any]) -> bool:
        assert self.require_valid_channel_name(channel)
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = self._new(channel, time.monotonic())
        if len(entry.messages) >= entry.capacity:
            return False
        entry.messages.append(message)
        if entry.waiter is not None and not entry.waiter.done():
            entry.waiter.set_result(None)
        return True

    def _new(self, channel: str, now: float) -> _Channel:
        # The capacity is looked up once per channel, not per message.
        return _Channel(now, self.get_capacity(channel))

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.expiry / 4
        cutoff = now - self.expiry
        stale = [
            name
            for name, entry in self._channels.items()
            if entry.last_receive < cutoff and entry.waiter is None
        ]
        for name in stale:
            del self._channels[name]
            for group in self._memberships.pop(name, ()):
                members = self._groups.get(group)
                if members is not None:
                    members.discard(name)
                    if not members:
                        del self._groups[group]
