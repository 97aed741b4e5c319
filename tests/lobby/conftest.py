"""Fixtures of the lobby tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test.utils import CaptureQueriesContext

from lobby import push
from tests.settle import settle


@pytest.fixture
def arena(settings: Any) -> Callable[..., None]:
    """Change `settings.ARENA` values for one test."""

    def update(**values: Any) -> None:
        settings.ARENA = settings.ARENA.model_copy(update=values)

    return update


@pytest.fixture(autouse=True)
def _close_sync_thread_connections() -> Iterator[None]:
    """Close the DB connection the async ORM calls left in asgiref's sync thread.

    Async tests run ORM calls (`acount`, `sync_to_async(...)`) in asgiref's
    shared sync thread, whose connection would otherwise outlive the test and
    keep PostgreSQL from dropping the test database.
    """
    yield
    # From a plain event loop (not inside async_to_sync), thread-sensitive
    # calls run in that shared executor thread: close its connection there.
    asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture(autouse=True)
async def _settled() -> AsyncIterator[None]:
    """The runtime's and lobby's background work is done before the tables are flushed."""
    yield
    await settle()


@pytest.fixture
def db_thread_queries() -> Iterator[CaptureQueriesContext]:
    """Django's query capture on the database thread's kept connection (lobby/dbconn.py).

    The chat writer's batches and presence run there (no connect and close
    each): a query made on any other connection is not seen here.
    """
    capture = asyncio.run(push.run_sync(lambda: CaptureQueriesContext(connections["default"])))
    asyncio.run(push.run_sync(capture.__enter__))
    yield capture
    asyncio.run(push.run_sync(capture.__exit__, None, None, None))
