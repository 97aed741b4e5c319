"""The runtime's kept database connection (lobby/dbconn.py), through `push.run_sync`."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import IntegrityError, connection, transaction

from lobby import dbconn, push
from lobby.models import LobbyState

pytestmark = pytest.mark.django_db(transaction=True)


def _raw() -> Any:
    """The DB-API connection this call runs on."""
    connection.ensure_connection()
    return connection.connection


def _fail_inside_a_transaction() -> None:
    with transaction.atomic():
        LobbyState.objects.create(key="k", value="1")
        LobbyState.objects.create(key="k", value="2")  # the primary key again


async def test_calls_share_one_connection_and_a_failed_one_does_not_break_it() -> None:
    first = await push.run_sync(_raw)
    assert await push.run_sync(_raw) is first
    with pytest.raises(IntegrityError):
        await push.run_sync(_fail_inside_a_transaction)
    # Rolled back, and the next call runs on the same, usable connection.
    assert await push.run_sync(_raw) is first
    assert await push.run_sync(lambda: LobbyState.objects.filter(key="k").count()) == 0


async def test_the_callers_own_connection_is_put_back() -> None:
    kept = await push.run_sync(_raw)
    # Plain database_sync_to_async calls of the same task keep Django's behaviour.
    plain = await database_sync_to_async(_raw)()
    assert plain is not kept
    assert await push.run_sync(_raw) is kept


async def test_close_all_closes_it_and_the_next_call_reopens() -> None:
    first = await push.run_sync(_raw)
    await sync_to_async(dbconn.close_all)()  # async-unsafe: tests call it from sync code
    second = await push.run_sync(_raw)
    in_memory = await push.run_sync(
        lambda: getattr(connection, "is_in_memory_db", lambda: False)())
    # Django never closes an in-memory SQLite database (that would drop it).
    assert (second is first) if in_memory else (second is not first)
    assert await push.run_sync(lambda: LobbyState.objects.count()) >= 0
