"""Which process runs each room's engine: expiring leases and checkpoints.

With one process (no REDIS_URL) this process owns every room: `LocalOwnership`.
With Redis, `RedisOwnership` keeps, per room,

- `arena:lease:<room>` = the owner's hub channel name, set with NX and a TTL
  (`LEASE_MS`); the owner renews it every `LEASE_MS / 3` with a
  compare-and-extend script, so a process that dies (kill -9) loses it
  within `LEASE_MS`, and two processes racing to create a room end with
  exactly one owner;
- `arena:ckpt:<room>` = the engine's latest checkpoint, written by the owner
  every `checkpoint_seconds` and at hand-over, read by whoever takes the
  lease next.

The owner id is the owner's channel-layer channel, so any process can send
the owner inputs and joins directly.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from redis import asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

LEASE_MS = 1500
CHECKPOINT_TTL_MS = 10 * 60 * 1000

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class Ownership(Protocol):
    distributed: bool

    async def acquire(self, room: str, owner: str) -> bool: ...
    async def renew(self, room: str, owner: str) -> bool: ...
    async def release(self, room: str, owner: str) -> None: ...
    async def owner_of(self, room: str) -> str | None: ...
    async def save_checkpoint(self, room: str, data: bytes) -> None: ...
    async def load_checkpoint(self, room: str) -> bytes | None: ...
    async def forget(self, room: str) -> None: ...


class LocalOwnership:
    """One process: it owns every room, and nothing outlives it."""

    distributed = False

    async def acquire(self, room: str, owner: str) -> bool:
        return True

    async def renew(self, room: str, owner: str) -> bool:
        return True

    async def release(self, room: str, owner: str) -> None:
        return None

    async def owner_of(self, room: str) -> str | None:
        return None

    async def save_checkpoint(self, room: str, data: bytes) -> None:
        return None

    async def load_checkpoint(self, room: str) -> bytes | None:
        return None

    async def forget(self, room: str) -> None:
        return None


class RedisOwnership:
    """Leases and checkpoints in Redis (see module docstring).

    Every call raises `RedisError` subclasses when Redis is unreachable; the
    manager treats that as "unknown" and retries on its next round.
    """

    distributed = True

    def __init__(self, url: str, lease_ms: int = LEASE_MS) -> None:
        self.redis: Any = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.lease_ms = lease_ms
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    @staticmethod
    def _lease(room: str) -> str:
        return f"arena:lease:{room}"

    @staticmethod
    def _ckpt(room: str) -> str:
        return f"arena:ckpt:{room}"

    async def acquire(self, room: str, owner: str) -> bool:
        return bool(await self.redis.set(self._lease(room), owner, nx=True, px=self.lease_ms))

    async def renew(self, room: str, owner: str) -> bool:
        return bool(await self._renew(keys=[self._lease(room)], args=[owner, self.lease_ms]))

    async def release(self, room: str, owner: str) -> None:
        await self._release(keys=[self._lease(room)], args=[owner])

    async def owner_of(self, room: str) -> str | None:
        value = await self.redis.get(self._lease(room))
        return value.decode() if value is not None else None

    async def save_checkpoint(self, room: str, data: bytes) -> None:
        await self.redis.set(self._ckpt(room), data, px=CHECKPOINT_TTL_MS)

    async def load_checkpoint(self, room: str) -> bytes | None:
        value = await self.redis.get(self._ckpt(room))
        return bytes(value) if value is not None else None

    async def forget(self, room: str) -> None:
        await self.redis.delete(self._ckpt(room))


def ownership_for(redis_urls: list[str]) -> Ownership:
    """Leases live on the first Redis URL (the layer may shard over all of them)."""
    if not redis_urls:
        return LocalOwnership()
    return RedisOwnership(redis_urls[0])


__all__ = ["LEASE_MS", "LocalOwnership", "Ownership", "RedisError", "RedisOwnership",
           "ownership_for"]
