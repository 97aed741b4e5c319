"""Django's database sessions, with a new session written once (`SESSION_ENGINE`).

Django's database `SessionStore.create()` (what `login()` calls through
`cycle_key()`) looks for an unused key with a query, inserts the row at
once, and the session middleware then updates the same row with the logged-in
user's data as the response goes out: a read and two writes for every login,
the largest single cost of a guest session under a join storm (issue #17).

Here `create()` only takes a new random key (32 characters from 36: a
collision is never expected; drawn in one read, lobby/randomness.py) and the
next `save()`, normally the middleware's, inserts the row with its data. The
insert is `must_create`, so a key that is taken after all raises Django's
`CreateError` and a new key is tried, as Django's own `create()` does; an existing session is never
overwritten. Everything else (loading, expiry, `flush()`, `cycle_key()`,
the cookie) is Django's.

Outside a transaction (autocommit, as a request runs) the insert is sent on
its own: one statement is atomic by itself, and a taken key's
`IntegrityError` leaves the connection usable, so Django's `atomic()` around
it (a BEGIN and a COMMIT, two more round trips on PostgreSQL) is left out.
Inside a transaction it stays Django's own insert, in a savepoint, so a taken
key does not break the caller's transaction.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import IntegrityError, connections, router

from lobby.randomness import random_string

KEY_LENGTH = 32
"""Characters of a new session key, as Django's (from its 36, lobby/randomness.py)."""

NEW_KEY_TRIES = 10
"""Give up (raise `CreateError`) after this many taken keys in a row: something else is wrong."""


def _new_key() -> str:
    return random_string(KEY_LENGTH, VALID_KEY_CHARS)


class SessionStore(DatabaseSessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._unwritten = False
        """True between `create()` and the `save()` that inserts the row."""

    def create(self) -> None:
        self._session_key = _new_key()
        self._unwritten = True
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            self.create()
        if not self._unwritten:
            super().save(must_create)
            return
        for _ in range(NEW_KEY_TRIES):
            try:
                self._insert()
            except CreateError:
                self._session_key = _new_key()
                continue
            self._unwritten = False
            return
        raise CreateError(f"no unused session key in {NEW_KEY_TRIES} tries")

    def _insert(self) -> None:
        """Insert this new session's row; `CreateError` if its key is taken."""
        # The data as Django's own backends' `save()` reads it (`SessionBase._get_session`,
        # untyped in django-stubs): a new session is never loaded from the database.
        data = self._get_session(no_load=True)  # type: ignore[attr-defined]
        obj = self.create_model_instance(data)
        using = router.db_for_write(self.model, instance=obj)
        connection = connections[using]
        if connection.in_atomic_block or not connection.get_autocommit():
            super().save(must_create=True)  # Django's: in a savepoint
            return
        try:
            obj.save(force_insert=True, using=using)
        except IntegrityError:
            raise CreateError from None

    # The async variants do the same, in a thread (this project calls the sync ones).
    async def acreate(self) -> None:
        await sync_to_async(self.create)()

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save)(must_create)
