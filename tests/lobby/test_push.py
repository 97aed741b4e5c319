"""How sync lobby code sends pushes (lobby/push.py): never by blocking a
thread on the event loop that is waiting for that thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.db import transaction

from lobby import push

TX = pytest.mark.django_db(transaction=True)


async def listener(group: str) -> str:
    layer = push.channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def received(channel: str, timeout: float = 2.0) -> dict[str, Any]:
    return await asyncio.wait_for(push.channel_layer().receive(channel), timeout)


@TX
async def test_pushes_from_run_sync_go_out_after_the_thread_in_order() -> None:
    channel = await listener("g1")
    loop_thread = threading.get_ident()
    seen_in_thread: list[int] = []

    def work() -> str:
        seen_in_thread.append(threading.get_ident())
        with transaction.atomic():
            push.push("g1", {"n": 1})
            push.push("g1", {"n": 2})
        push.push("g1", {"n": 3})
        return "done"

    assert await push.run_sync(work) == "done"
    assert seen_in_thread and seen_in_thread[0] != loop_thread
    for n in (1, 2, 3):
        assert (await received(channel))["frame"] == {"n": n}


@TX
async def test_a_rolled_back_push_is_never_sent() -> None:
    channel = await listener("g2")

    def work() -> None:
        with transaction.atomic():
            push.push("g2", {"n": "lost"})
            transaction.set_rollback(True)
        push.push("g2", {"n": "kept"})

    await push.run_sync(work)
    assert (await received(channel))["frame"] == {"n": "kept"}
    with pytest.raises(TimeoutError):
        await received(channel, timeout=0.2)


@TX
async def test_pushes_committed_before_an_error_still_go_out() -> None:
    channel = await listener("g3")

    def work() -> None:
        push.push("g3", {"n": 1})
        raise ValueError("boom")

    with pytest.raises(ValueError):
        await push.run_sync(work)
    assert (await received(channel))["frame"] == {"n": 1}


async def test_sync_push_on_the_loop_thread_is_refused() -> None:
    with pytest.raises(RuntimeError, match="apush"):
        push.push("g4", {"n": 1})


@pytest.mark.django_db(transaction=True)
def test_room_list_pushes_work_on_each_new_loop() -> None:
    """A loop that ended (a finished test, a restarted server) leaves nothing
    that a later loop's push could wait on: each loop pushes its own changes."""
    from lobby import rooms

    async def one_round(name: str) -> list[str]:
        channel = await listener(push.LOBBY_GROUP)
        await rooms.aopen_room(name)
        frame = (await received(channel, timeout=5))["frame"]
        return [r["name"] for r in frame["rooms"]]

    for name in ("first", "second", "third"):
        assert name in asyncio.run(asyncio.wait_for(one_round(name), 10))
