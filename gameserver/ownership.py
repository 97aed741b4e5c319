"""Which process runs each room's engine: expiring leases with fencing tokens, checkpoints.

With one process (no REDIS_URL) this process owns every room: `LocalOwnership`.
With Redis, `RedisOwnership` keeps, per room,

- `arena:lease:<room>` = the owner's hub channel name, set with NX and a TTL
  (`LEASE_TTL_SECONDS`); the owner renews it every `LEASE_RENEW_SECONDS`, so
  a process that dies (kill -9) loses it within the TTL, and two processes
  racing to create a room end with exactly one owner;
- `arena:fence:<room>` = the room's fencing counter, incremented (atomically,
  in the same script as the `SET NX`) on every acquisition: each owner holds
  a token larger than every earlier owner's. Renewal and checkpoint writes
  are compare-and-set scripts that refuse a token older than the counter, so
  a process that lost its lease (stalled, SIGSTOPped) can neither extend it
  nor overwrite the new owner's checkpoint;
- `arena:ckpt:<room>` = a hash `{token, data}`: the engine's latest
  checkpoint and the token of the owner that wrote it, read by whoever
  takes the lease next;
- `arena:proc:<channel>` = present while the process with that hub channel
  lives (refreshed every renewal round, expires with the lease TTL): a
  room's owner releases the seats of players who were connected through a
  process that died (`alive`);
- `arena:engines` = the set of rooms whose engine has started and not been
  closed cleanly. A member whose lease is absent is a room whose engine
  died with its process: the room list hides it (`RoomLiveness`) and a live
  process closes it (`RoomManager`'s sweep, `claim_orphan`).

The owner id is the owner's channel-layer channel, so any process can send
the owner inputs and joins directly. The runtime never trusts Redis alone to
stop a stale owner: it also stops ticking a room by itself once its last
successful renewal is older than the TTL (gameserver/room.py,
`RoomEngine.lease_deadline`).
"""

from __future__ import annotations

import logging
from typing import Protocol, cast

import redis
from redis import asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CHECKPOINT_TTL_MS = 10 * 60 * 1000
FENCE_TTL_MS = 24 * 3600 * 1000
"""A room's fencing counter outlives any lease by far; it is refreshed on every acquisition."""
ENGINES_KEY = "arena:engines"
BATCH_ROOMS = 200
"""Rooms per renewal or checkpoint script call: bounds one call's size (checkpoints are
kilobytes each) and how long Redis runs it; a process with more rooms makes a few calls."""

_ACQUIRE = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 0
end
local token = redis.call('incr', KEYS[2])
redis.call('pexpire', KEYS[2], ARGV[3])
redis.call('sadd', KEYS[3], ARGV[4])
return token
"""
# For each room (KEYS: its lease and fence keys in pairs, then the engines set;
# ARGV: owner, lease ms, fence TTL ms, then each room's token and name): extend
# our lease; or, when it expired and nobody took the room since (the counter
# still holds our token, or Redis lost it all in a restart), take it again with
# a new token. Per room the token to hold, or 0 when someone else holds or held
# it: step down. One call renews all of a process's rooms.
_RENEW = """
local out = {}
local engines = KEYS[#KEYS]
for i = 1, (#KEYS - 1) / 2 do
    local lease, fence_key = KEYS[2 * i - 1], KEYS[2 * i]
    local token, room = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
    local holder = redis.call('get', lease)
    local fence = redis.call('get', fence_key)
    if holder == ARGV[1] and fence == token then
        redis.call('pexpire', lease, ARGV[2])
        out[i] = tonumber(token)
    elseif holder or (fence and fence ~= token) then
        out[i] = 0
    else
        redis.call('set', lease, ARGV[1], 'PX', ARGV[2])
        out[i] = redis.call('incr', fence_key)
        redis.call('pexpire', fence_key, ARGV[3])
        redis.call('sadd', engines, room)
    end
end
return out
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] and redis.call('get', KEYS[2]) == ARGV[2] then
    return redis.call('del', KEYS[1])
end
return 0
"""
# For each room (KEYS: its fence and checkpoint keys in pairs; ARGV: the TTL
# ms, then each room's token and data): store the checkpoint unless a newer
# owner exists. Per room 1 (stored) or 0 (refused).
_CHECKPOINT = """
local out = {}
for i = 1, #KEYS / 2 do
    local token = ARGV[2 * i]
    if redis.call('get', KEYS[2 * i - 1]) ~= token then
        out[i] = 0
    else
        redis.call('hset', KEYS[2 * i], 'token', token, 'data', ARGV[2 * i + 1])
        redis.call('pexpire', KEYS[2 * i], ARGV[1])
        out[i] = 1
    end
end
return out
"""
_ORPHANS = """
local found = {}
for _, room in ipairs(redis.call('smembers', KEYS[1])) do
    if redis.call('exists', ARGV[1] .. room) == 0 then
        found[#found + 1] = room
        if #found >= tonumber(ARGV[2]) then break end
    end
end
return found
"""
_DEAD = """
local found = {}
for _, room in ipairs(ARGV) do
    if redis.call('sismember', KEYS[1], room) == 1
            and redis.call('exists', 'arena:lease:' .. room) == 0 then
        found[#found + 1] = room
    end
end
return found
"""


def lease_key(room: str) -> str:
    return f"arena:lease:{room}"


def fence_key(room: str) -> str:
    return f"arena:fence:{room}"


def checkpoint_key(room: str) -> str:
    return f"arena:ckpt:{room}"


class Ownership(Protocol):
    distributed: bool

    async def acquire(self, room: str, owner: str) -> int: ...
    async def renew(self, owner: str, tokens: dict[str, int]) -> dict[str, int]: ...
    async def release(self, room: str, owner: str, token: int) -> None: ...
    async def owner_of(self, room: str) -> str | None: ...
    async def owners_of(self, rooms: list[str]) -> dict[str, str | None]: ...
    async def fence(self, room: str) -> int: ...
    async def save_checkpoint(self, room: str, token: int, data: bytes) -> bool: ...
    async def save_checkpoints(self, checkpoints: dict[str, tuple[int, bytes]]
                               ) -> dict[str, bool]: ...
    async def load_checkpoint(self, room: str) -> bytes | None: ...
    async def forget(self, room: str) -> None: ...
    async def orphans(self, limit: int) -> list[str]: ...
    async def heartbeat(self, channel: str) -> None: ...
    async def alive(self, channels: list[str]) -> set[str]: ...


class LocalOwnership:
    """One process: it owns every room, and nothing outlives it."""

    distributed = False

    async def acquire(self, room: str, owner: str) -> int:
        return 1

    async def renew(self, owner: str, tokens: dict[str, int]) -> dict[str, int]:
        return dict(tokens)

    async def release(self, room: str, owner: str, token: int) -> None:
        return None

    async def owner_of(self, room: str) -> str | None:
        return None

    async def owners_of(self, rooms: list[str]) -> dict[str, str | None]:
        return dict.fromkeys(rooms)

    async def fence(self, room: str) -> int:
        return 1

    async def save_checkpoint(self, room: str, token: int, data: bytes) -> bool:
        return True

    async def save_checkpoints(self, checkpoints: dict[str, tuple[int, bytes]]
                               ) -> dict[str, bool]:
        return dict.fromkeys(checkpoints, True)

    async def load_checkpoint(self, room: str) -> bytes | None:
        return None

    async def forget(self, room: str) -> None:
        return None

    async def orphans(self, limit: int) -> list[str]:
        return []

    async def heartbeat(self, channel: str) -> None:
        return None

    async def alive(self, channels: list[str]) -> set[str]:
        return set(channels)


class RedisOwnership:
    """Leases, fencing tokens and checkpoints in Redis (see module docstring).

    Every call raises `RedisError` subclasses when Redis is unreachable; the
    manager treats that as "unknown" and retries on its next round.
    """

    distributed = True

    def __init__(self, url: str, lease_seconds: float = 1.5) -> None:
        self.redis: aioredis.Redis = aioredis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2
        )
        self.lease_ms = max(1, round(lease_seconds * 1000))
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._checkpoint = self.redis.register_script(_CHECKPOINT)
        self._orphans = self.redis.register_script(_ORPHANS)

    async def acquire(self, room: str, owner: str) -> int:
        """Take a free lease: the new fencing token, or 0 if another process holds it."""
        return int(await self._acquire(
            keys=[lease_key(room), fence_key(room), ENGINES_KEY],
            args=[owner, self.lease_ms, FENCE_TTL_MS, room],
        ))

    async def renew(self, owner: str, tokens: dict[str, int]) -> dict[str, int]:
        """Extend our leases on `tokens`' rooms (or re-take those nobody took since).

        Per room the token to hold, or 0: step down. One Redis call per
        `BATCH_ROOMS` rooms, so a renewal round does not take longer with
        more rooms.
        """
        held: dict[str, int] = {}
        for rooms in _batches(list(tokens)):
            keys = [key for room in rooms for key in (lease_key(room), fence_key(room))]
            args: list[str | int] = [owner, self.lease_ms, FENCE_TTL_MS]
            for room in rooms:
                args += [tokens[room], room]
            found = await self._renew(keys=[*keys, ENGINES_KEY], args=args)
            held.update((room, int(token)) for room, token in zip(rooms, found, strict=True))
        return held

    async def release(self, room: str, owner: str, token: int) -> None:
        """Give the lease up, if it is still ours with this token."""
        await self._release(keys=[lease_key(room), fence_key(room)], args=[owner, token])

    async def owner_of(self, room: str) -> str | None:
        # The client decodes no responses: values are bytes.
        value = cast("bytes | None", await self.redis.get(lease_key(room)))
        return value.decode() if value is not None else None

    async def owners_of(self, rooms: list[str]) -> dict[str, str | None]:
        """Each room's owner (None: no lease), in one Redis call."""
        if not rooms:
            return {}
        # The client decodes no responses: values are bytes.
        values = cast("list[bytes | None]", await self.redis.mget([lease_key(r) for r in rooms]))
        return {room: value.decode() if value is not None else None
                for room, value in zip(rooms, values, strict=True)}

    async def fence(self, room: str) -> int:
        """The newest token handed out for `room` (0 if none)."""
        return int(await self.redis.get(fence_key(room)) or 0)

    async def save_checkpoint(self, room: str, token: int, data: bytes) -> bool:
        """Store a checkpoint unless a newer owner exists; False if `token` was refused."""
        return (await self.save_checkpoints({room: (token, data)}))[room]

    async def save_checkpoints(self, checkpoints: dict[str, tuple[int, bytes]]
                               ) -> dict[str, bool]:
        """`save_checkpoint` for each room's `(token, data)`, one Redis call per `BATCH_ROOMS`."""
        stored: dict[str, bool] = {}
        for rooms in _batches(list(checkpoints)):
            keys = [key for room in rooms for key in (fence_key(room), checkpoint_key(room))]
            args: list[int | bytes] = [CHECKPOINT_TTL_MS]
            for room in rooms:
                args += checkpoints[room]
            found = await self._checkpoint(keys=keys, args=args)
            stored.update((room, bool(ok)) for room, ok in zip(rooms, found, strict=True))
        return stored

    async def load_checkpoint(self, room: str) -> bytes | None:
        value = cast("bytes | None", await self.redis.hget(checkpoint_key(room), "data"))
        return bytes(value) if value is not None else None

    async def checkpoint_token(self, room: str) -> int | None:
        """The token of the owner that wrote the stored checkpoint (None: no checkpoint)."""
        value = await self.redis.hget(checkpoint_key(room), "token")
        return int(value) if value is not None else None

    async def forget(self, room: str) -> None:
        """The room was closed cleanly: no checkpoint to resume, no engine to look for."""
        await self.redis.delete(checkpoint_key(room))
        await self.redis.srem(ENGINES_KEY, room)

    async def heartbeat(self, channel: str) -> None:
        """This process (hub channel `channel`) is alive for one more lease TTL."""
        await self.redis.set(f"arena:proc:{channel}", 1, px=self.lease_ms)

    async def alive(self, channels: list[str]) -> set[str]:
        """The processes among `channels` whose heartbeat has not expired."""
        if not channels:
            return set()
        values = await self.redis.mget([f"arena:proc:{c}" for c in channels])
        return {c for c, v in zip(channels, values, strict=True) if v is not None}

    async def orphans(self, limit: int) -> list[str]:
        """Up to `limit` rooms whose engine started, was never closed, and has no lease now."""
        found = await self._orphans(keys=[ENGINES_KEY], args=["arena:lease:", limit])
        return [room.decode() if isinstance(room, bytes) else str(room) for room in found]


def _batches(rooms: list[str]) -> list[list[str]]:
    return [rooms[i:i + BATCH_ROOMS] for i in range(0, len(rooms), BATCH_ROOMS)]


class RoomLiveness:
    """For the room list (sync code): which listed rooms lost their engine with its process.

    A room is dead when its engine started (it is in `arena:engines`) and its
    lease is absent: the process that ran it is gone and no process took it
    over. Installed into `lobby.rooms` by `gameserver.apps`.
    """

    def __init__(self, url: str) -> None:
        self.redis: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=1, socket_connect_timeout=1
        )
        self._dead = self.redis.register_script(_DEAD)

    def dead(self, rooms: list[str]) -> set[str]:
        """The subset of `rooms` whose engine died; raises RedisError if Redis is unreachable."""
        if not rooms:
            return set()
        found = self._dead(keys=[ENGINES_KEY], args=rooms)
        return {room.decode() if isinstance(room, bytes) else str(room) for room in found}


def ownership_for(redis_urls: list[str], lease_seconds: float = 1.5) -> Ownership:
    """Leases live on the first Redis URL (the layer may shard over all of them)."""
    if not redis_urls:
        return LocalOwnership()
    return RedisOwnership(redis_urls[0], lease_seconds)


__all__ = ["LocalOwnership", "Ownership", "RedisError", "RedisOwnership", "RoomLiveness",
           "checkpoint_key", "fence_key", "lease_key", "ownership_for"]
