"""Leases and checkpoints in Redis, many rooms per call (gameserver/ownership.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis

from gameserver.ownership import RedisOwnership, checkpoint_key, fence_key, lease_key
from tests.servers import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
async def ownership(redis_server: RedisServer) -> AsyncIterator[RedisOwnership]:
    owned = RedisOwnership(redis_server.url, lease_seconds=5)
    yield owned
    await owned.redis.aclose()


def rooms(count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"own-{run}-{i}" for i in range(count)]


async def test_one_call_renews_held_retakes_lapsed_and_refuses_taken_rooms(
    ownership: RedisOwnership, redis_server: RedisServer,
) -> None:
    store = redis.Redis.from_url(redis_server.url)
    held, lapsed, taken, *more = rooms(12)
    tokens = {room: await ownership.acquire(room, "me") for room in [held, lapsed, taken, *more]}
    assert all(tokens.values())
    store.delete(lease_key(lapsed))  # expired, nobody took it since: ours to re-take
    store.delete(lease_key(taken))
    other = await ownership.acquire(taken, "someone-else")
    assert other > tokens[taken]

    before = redis_server.scripts_run()
    renewed = await ownership.renew("me", tokens)
    assert redis_server.scripts_run() - before == 1, "one Redis call for every room"

    assert renewed[held] == tokens[held]
    assert all(renewed[room] == tokens[room] for room in more)
    assert renewed[lapsed] > tokens[lapsed], "a re-taken lease gets a newer fencing token"
    assert store.get(lease_key(lapsed)) == b"me"
    assert renewed[taken] == 0, "step down: another process holds the room"
    assert store.get(lease_key(taken)) == b"someone-else"
    assert int(store.get(fence_key(taken)) or 0) == other


async def test_a_lease_is_extended_by_the_renewal(
    ownership: RedisOwnership, redis_server: RedisServer,
) -> None:
    store = redis.Redis.from_url(redis_server.url)
    [room] = rooms(1)
    token = await ownership.acquire(room, "me")
    store.pexpire(lease_key(room), 100)
    assert await ownership.renew("me", {room: token}) == {room: token}
    assert store.pttl(lease_key(room)) > 1000


async def test_one_call_stores_checkpoints_and_refuses_a_stale_token(
    ownership: RedisOwnership, redis_server: RedisServer,
) -> None:
    store = redis.Redis.from_url(redis_server.url)
    mine, stale, fresh = rooms(3)
    tokens = {room: await ownership.acquire(room, "me") for room in (mine, stale, fresh)}
    store.incr(fence_key(stale))  # a newer owner took `stale` since
    store.hset(checkpoint_key(stale), mapping={"token": tokens[stale] + 1, "data": b"theirs"})

    before = redis_server.scripts_run()
    stored = await ownership.save_checkpoints(
        {room: (tokens[room], f"state of {room}".encode()) for room in (mine, stale, fresh)})
    assert redis_server.scripts_run() - before == 1, "one Redis call for every room"

    assert stored == {mine: True, stale: False, fresh: True}
    assert await ownership.load_checkpoint(mine) == f"state of {mine}".encode()
    assert await ownership.load_checkpoint(stale) == b"theirs", "a stale write changes nothing"
    assert await ownership.checkpoint_token(fresh) == tokens[fresh]
    assert store.pttl(checkpoint_key(fresh)) > 0
    assert await ownership.save_checkpoint(mine, tokens[mine], b"again") is True
    assert await ownership.load_checkpoint(mine) == b"again"


async def test_owners_of_many_rooms(ownership: RedisOwnership) -> None:
    first, second, free = rooms(3)
    await ownership.acquire(first, "proc-a")
    await ownership.acquire(second, "proc-b")
    assert await ownership.owners_of([first, second, free]) == {
        first: "proc-a", second: "proc-b", free: None}
    assert await ownership.owners_of([]) == {}
    assert await ownership.renew("me", {}) == {}
    assert await ownership.save_checkpoints({}) == {}


async def test_many_rooms_go_in_calls_of_batch_rooms_each(
    ownership: RedisOwnership, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gameserver import ownership as module

    monkeypatch.setattr(module, "BATCH_ROOMS", 5)
    many = rooms(12)
    tokens = {room: await ownership.acquire(room, "me") for room in many}
    before = redis_server.scripts_run()
    assert await ownership.renew("me", tokens) == tokens
    assert redis_server.scripts_run() - before == 3  # 5 + 5 + 2
    stored = await ownership.save_checkpoints(
        {room: (token, room.encode()) for room, token in tokens.items()})
    assert stored == dict.fromkeys(many, True)
    assert redis_server.scripts_run() - before == 6
    assert [await ownership.load_checkpoint(room) for room in many] == [r.encode() for r in many]
