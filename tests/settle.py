"""Let a test's background work finish before its database goes away.

A test's event loop closes when the test ends; work the runtime started in
database threads (seats released, rooms closed, room-list pushes) would go on
writing while pytest-django flushes the tables. `settle()` closes the loop's
room manager, which awaits that work, then waits for the database thread to
finish whatever it was given before.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async


async def settle() -> None:
    from gameserver import workers
    from gameserver.manager import existing_manager

    manager = existing_manager()
    if manager is not None:
        await manager.close()
    await workers.stop_embedded()
    # The thread-sensitive executor runs jobs one after another: a no-op
    # returns once every job queued before it has finished.
    await sync_to_async(lambda: None)()
