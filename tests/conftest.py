"""Shared fixtures: real Redis, live daphne servers, guest users and tokens."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import LiveServer, RedisServer, http_json, migrate, server_env


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """API rate limits count in Django's cache: every test starts with a clean budget."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Stored files (match recordings) go to a fresh directory per test, not var/."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture(autouse=True)
def _close_kept_connections() -> Iterator[None]:
    """The runtime's kept database connections (lobby/dbconn.py) end with each test,
    so none outlives the test database (PostgreSQL refuses to drop a database in use)."""
    yield
    from lobby import dbconn

    # In a thread of its own: Playwright's sync API runs an event loop in the
    # test's thread, where Django refuses synchronous database calls.
    closer = threading.Thread(target=dbconn.close_all, name="close-kept-connections")
    closer.start()
    closer.join()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port for the whole session."""
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that live servers of this session share."""
    path = tmp_path_factory.mktemp("live") / "arena.sqlite3"
    migrate(server_env(path))
    return path


@pytest.fixture
def start_server(live_database: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start daphne processes with extra environment; all stopped after the test."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = LiveServer(env=server_env(live_database, env)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def daphne_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One daphne process with the default settings, shared by a test module."""
    path = tmp_path_factory.mktemp("live-module") / "arena.sqlite3"
    env = server_env(path)
    migrate(env)
    server = LiveServer(env=env).start()
    yield server
    server.stop()


@pytest.fixture
def guest(daphne_server: LiveServer) -> Callable[[str], tuple[int, str]]:
    """Create a guest on the live server: returns (user id, token)."""

    def create(name: str = "ann") -> tuple[int, str]:
        status, body = http_json("POST", f"{daphne_server.url}/api/session/guest", {"name": name})
        assert status == 201, body
        return body["user"]["id"], body["token"]

    return create
