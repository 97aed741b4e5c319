"""Presence: distinct users online across tabs, disconnects, dead processes (expiry)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lobby import presence
from lobby.models import Presence
from tests.lobby.helpers import LobbyClient, anew_user

# Sync tests roll back (fast); async and threaded tests commit for real.
pytestmark = pytest.mark.django_db
TX = pytest.mark.django_db(transaction=True)


@TX
async def test_a_user_with_three_tabs_counts_once() -> None:
    _, ann_token = await anew_user("ann")
    _, bob_token = await anew_user("bob")
    watcher = await LobbyClient(bob_token).connect()
    assert watcher.online == 1
    tabs = [await LobbyClient(ann_token).connect() for _ in range(3)]
    assert (await watcher.of_type("presence"))["online"] == 2
    assert tabs[2].online == 2
    await watcher.nothing_of("presence")  # tabs two and three changed nothing
    await tabs[0].disconnect()
    await tabs[1].disconnect()
    await watcher.nothing_of("presence")  # ann is still online in one tab
    await tabs[2].disconnect()
    assert (await watcher.of_type("presence"))["online"] == 1
    assert await Presence.objects.acount() == 1
    await watcher.disconnect()
    assert await Presence.objects.acount() == 0


@TX
async def test_dead_process_rows_expire_and_the_change_is_pushed(arena: Any) -> None:
    ghost, _ = await anew_user("ghost")
    _, token = await anew_user("ann")
    # A process that died holding a socket: its row is never refreshed again.
    await Presence.objects.acreate(
        channel_name="specific.dead!abc", user=ghost,
        expires_at=timezone.now() + timedelta(seconds=45),
    )
    ann = await LobbyClient(token).connect()
    assert ann.online == 2
    # Time passes for the dead row only (its TTL runs out)...
    await Presence.objects.filter(user=ghost).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    # ...and the next heartbeat of a live socket sweeps it and pushes the new count.
    await presence.arefresh()
    assert (await ann.of_type("presence"))["online"] == 1
    assert not await Presence.objects.filter(user=ghost).aexists()
    await ann.disconnect()


@TX
async def test_live_sockets_heartbeat_sweeps_dead_rows(arena: Any) -> None:
    arena(presence_heartbeat_seconds=0.05, presence_ttl_seconds=30)
    ghost, _ = await anew_user("ghost")
    _, token = await anew_user("ann")
    await Presence.objects.acreate(
        channel_name="specific.dead!def", user=ghost,
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    ann = await LobbyClient(token).connect()
    assert ann.online == 1, "expired rows never count"
    # The lobby hub's heartbeat task deletes the dead row. A background
    # task's database write is not awaitable from here: poll for it.
    for _ in range(250):
        if not await Presence.objects.filter(user=ghost).aexists():
            break
        await asyncio.sleep(0.02)
    assert not await Presence.objects.filter(user=ghost).aexists()
    await ann.disconnect()


@TX
async def test_expired_rows_never_count_even_before_a_sweep() -> None:
    ghost, _ = await anew_user("ghost")
    await Presence.objects.acreate(
        channel_name="specific.dead!x", user=ghost, expires_at=timezone.now() - timedelta(1)
    )
    assert await presence.aonline_count() == 0


@TX
async def test_heartbeat_task_refreshes_the_row(arena: Any) -> None:
    arena(presence_heartbeat_seconds=0.05, presence_ttl_seconds=30)
    ann, token = await anew_user("ann")
    client = await LobbyClient(token).connect()
    row = await Presence.objects.aget(user=ann)
    first_expiry = row.expires_at
    # Push the row close to expiry; the heartbeat must move it forward again.
    await Presence.objects.filter(user=ann).aupdate(expires_at=timezone.now())
    # The heartbeat task's write is not awaitable from here: poll for it.
    for _ in range(250):
        row = await Presence.objects.aget(user=ann)
        if row.expires_at > timezone.now() + timedelta(seconds=20):
            break
        await asyncio.sleep(0.02)
    assert row.expires_at > timezone.now() + timedelta(seconds=20)
    assert row.expires_at >= first_expiry - timedelta(seconds=1)
    await client.disconnect()


@TX
async def test_heartbeat_recreates_a_row_swept_by_mistake_and_sweeps_others() -> None:
    ann, token = await anew_user("ann")
    ghost, _ = await anew_user("ghost")
    client = await LobbyClient(token).connect()
    row = await Presence.objects.aget(user=ann)
    await Presence.objects.filter(user=ann).adelete()
    await Presence.objects.acreate(channel_name="specific.dead!y", user=ghost,
                                   expires_at=timezone.now() - timedelta(seconds=1))
    await presence.aheartbeat(row.channel_name, ann.pk)
    assert await Presence.objects.filter(user=ann).aexists()
    assert not await Presence.objects.filter(user=ghost).aexists()
    await client.disconnect()


@TX
async def test_presence_runs_on_the_database_threads_kept_connection(
    db_thread_queries: CaptureQueriesContext,
) -> None:
    """Heartbeats of a full lobby share the database thread with chat: no connect and close each."""
    user, _ = await anew_user("ann")
    start = len(db_thread_queries.captured_queries)
    await presence.aenter("lobby.test!one", user.pk)
    await presence.aheartbeat("lobby.test!one", user.pk)
    assert await presence.aonline_count() == 1
    await presence.aleave("lobby.test!one")
    await presence.arefresh()
    sql = [q["sql"].upper() for q in db_thread_queries.captured_queries[start:]]
    table = Presence._meta.db_table.upper()
    assert any(q.startswith("INSERT") and table in q for q in sql), sql  # enter
    assert any(q.startswith("UPDATE") and table in q for q in sql), sql  # the heartbeat
    assert sum(q.startswith("DELETE") and table in q for q in sql) >= 3, sql  # sweeps, leave
    assert await Presence.objects.acount() == 0


@TX
async def test_one_heartbeat_refreshes_every_socket_of_the_process(
    arena: Any, db_thread_queries: CaptureQueriesContext,
) -> None:
    """A full lobby's heartbeats are one transaction per process per interval, not one a socket."""
    arena(presence_heartbeat_seconds=0.05, presence_ttl_seconds=30)
    clients = [await LobbyClient((await anew_user(f"u{i}"))[1]).connect() for i in range(3)]
    names = [p.channel_name async for p in Presence.objects.all()]
    assert len(names) == 3
    start = len(db_thread_queries.captured_queries)
    await Presence.objects.aupdate(expires_at=timezone.now())
    # The hub's heartbeat task is not awaitable from here: poll for its write.
    soon = timezone.now() + timedelta(seconds=20)
    for _ in range(250):
        if await Presence.objects.filter(expires_at__gt=soon).acount() == 3:
            break
        await asyncio.sleep(0.02)
    assert await Presence.objects.filter(expires_at__gt=soon).acount() == 3
    table = Presence._meta.db_table.upper()
    updates = [q["sql"] for q in db_thread_queries.captured_queries[start:]
               if q["sql"].upper().startswith("UPDATE") and table in q["sql"].upper()]
    assert updates and all(all(name in sql for name in names) for sql in updates), updates
    for client in clients:
        await client.disconnect()
    assert await Presence.objects.acount() == 0


@TX
async def test_heartbeat_many_refreshes_recreates_and_sweeps() -> None:
    ann, _ = await anew_user("ann")
    bob, _ = await anew_user("bob")
    ghost, _ = await anew_user("ghost")
    now = timezone.now()
    await Presence.objects.acreate(channel_name="lobby.a!1", user=ann, expires_at=now)
    await Presence.objects.acreate(channel_name="specific.dead!z", user=ghost,
                                   expires_at=now - timedelta(seconds=1))
    await presence.aheartbeat_many([("lobby.a!1", ann.pk), ("lobby.b!2", bob.pk)])
    rows = {p.channel_name: p async for p in Presence.objects.all()}
    assert set(rows) == {"lobby.a!1", "lobby.b!2"}, "bob's swept row is back, the dead one gone"
    assert all(r.expires_at > now + timedelta(seconds=20) for r in rows.values())
    assert rows["lobby.b!2"].user_id == bob.pk
    assert await presence.aonline_count() == 2
