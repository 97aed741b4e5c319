"""One kept-open database connection for each thread that does the steady database work.

Django opens a connection per call when `CONN_MAX_AGE` is 0 (the setting
this project keeps, because other sync work, task workers and background
hooks, runs in threads that come and go, where a kept connection would only
leak): a join paid for a connect, its PRAGMAs (SQLite) or a server backend
(PostgreSQL), and a close, which on SQLite in WAL mode also checkpoints the
log when it was the last connection. The steady work runs on a few
long-lived threads instead: the runtime's database work (seat claims,
releases, room-list queries, chat batches, presence: everything
`lobby.push.run_sync` runs) on the process's one thread-sensitive executor
thread, and HTTP requests on that same thread (SQLite) or on the
`HTTP_THREADS` pool (PostgreSQL; gameserver/httphandler.py). `kept()` gives
each such thread one connection that stays open:

- it is this thread's own (never shared between threads), created on first
  use and kept with `close_at = None`, so Django's `close_old_connections`
  never ages it out;
- it is installed as `connections["default"]` only for the duration of the
  call, then the caller's own connection object is put back;
- a connection that had an error and no longer answers is closed and
  reopened on the next call (Django's own `close_if_unusable_or_obsolete`),
  and one whose database settings changed (tests switch databases) is
  replaced.

`close_all()` closes every kept connection (tests, before dropping a
PostgreSQL test database).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

_local = threading.local()
_all: list[Any] = []
_all_lock = threading.Lock()


def _target(settings: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(settings.get(k) for k in ("ENGINE", "NAME", "HOST", "PORT", "USER"))


def _wrapper() -> Any:
    """This thread's kept connection wrapper (not necessarily connected yet)."""
    wrapper = getattr(_local, "wrapper", None)
    if wrapper is not None and getattr(_local, "target", None) != _target(
            wrapper.settings_dict):
        wrapper.close()  # its database was switched under it (tests)
        with _all_lock:
            _all.remove(wrapper)
        wrapper = None
    if wrapper is None:
        wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
        # close_all() may close it from another thread.
        wrapper.inc_thread_sharing()
        _local.wrapper = wrapper
        with _all_lock:
            _all.append(wrapper)
    _local.target = _target(wrapper.settings_dict)
    return wrapper


@contextmanager
def kept() -> Iterator[None]:
    """Run the body (sync, in a database thread) on this thread's kept connection."""
    wrapper = _wrapper()
    wrapper.close_if_unusable_or_obsolete()
    if wrapper.connection is None:
        wrapper.connect()
    wrapper.close_at = None  # never aged out by close_old_connections
    previous = connections[DEFAULT_DB_ALIAS]  # this thread's own (created unconnected if none)
    connections[DEFAULT_DB_ALIAS] = wrapper
    try:
        yield
    finally:
        connections[DEFAULT_DB_ALIAS] = previous
        if wrapper.in_atomic_block:  # never happens unless the body leaked a transaction
            wrapper.close()


def close_all() -> None:
    """Close every kept connection of this process (they reopen on next use)."""
    with _all_lock:
        wrappers = list(_all)
    for wrapper in wrappers:
        wrapper.close()
