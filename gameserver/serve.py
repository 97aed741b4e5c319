"""Start daphne on the event loop the setting `EVENT_LOOP` names.

`python -m gameserver.serve [daphne's arguments]` is how the server is started
(`make run`, docs/operations.md "Process tuning").

Daphne runs Twisted's asyncio reactor on the loop it makes when its server
module is imported (`asyncio.new_event_loop()`), so the loop is chosen here,
before that import, through asyncio's event loop policy:

- `auto` (the default): uvloop, the loop libuv drives (a declared dependency),
  or asyncio's standard loop with a WARNING where uvloop cannot be imported;
- `uvloop`: uvloop, or exit with an error;
- `asyncio`: asyncio's standard loop.

Everything else is daphne's own command line, unchanged (`--help` shows it).
uvloop takes the loop's own work (readiness, callbacks, timers) out of
Python: about 4 % less CPU per delivered snapshot (docs/benchmarks.md
"Session 9").
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Literal

from gameserver import conf

logger = logging.getLogger("gameserver.serve")

Loop = Literal["uvloop", "asyncio"]


class EventLoopError(RuntimeError):
    """The loop `EVENT_LOOP` asks for cannot run in this process."""


def choose_loop(setting: Literal["auto", "uvloop", "asyncio"]) -> tuple[Loop, str | None]:
    """Set asyncio's policy for `setting`; `(the loop, a warning or None)`.

    Raises `EventLoopError` when `uvloop` is asked for and cannot be imported.
    """
    if setting == "asyncio":
        asyncio.set_event_loop_policy(None)  # the standard loop
        return "asyncio", None
    try:
        import uvloop
    except ImportError as exc:
        if setting == "uvloop":
            raise EventLoopError(
                f"EVENT_LOOP=uvloop, but uvloop cannot be imported: {exc}") from None
        asyncio.set_event_loop_policy(None)
        return "asyncio", f"uvloop cannot be imported ({exc}): serving on asyncio's standard loop"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop", None


def main(argv: Sequence[str] | None = None) -> None:
    try:
        loop, warning = choose_loop(conf.load().event_loop)
    except (conf.ConfigError, EventLoopError) as exc:
        print(f"gameserver.serve: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # Daphne makes its loop when its modules are imported: after the policy is set.
    # Then Django, whose start-up replaces the CLI's access logger
    # (gameserver.logs.install_access_log) and configures logging, so these
    # lines are formatted (and filtered) like the rest.
    from daphne.cli import CommandLineInterface

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gameserver.settings")  # as asgi.py
    import django

    django.setup(set_prefix=False)
    if warning:
        logger.warning(warning)
    logger.info("event loop: %s", loop)
    CommandLineInterface().run(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
