"""Django's HTTP handling under daphne: the middleware chain and the view in one thread call.

Django's `ASGIHandler` builds an async middleware chain. This project's
middleware is sync (lobby/http.py's, and Django's own through
`MiddlewareMixin`), and so are its views, so a request hopped between the
event loop and a thread several times: into a thread for the sync middleware,
back to the loop for the URL resolver, into the thread again for the view,
each hop a thread wake-up, a future and a loop wake-up. A py-spy profile of a
guest-session storm (issue #17) put those hops at about half of the server's
CPU per request. `SyncChainHandler` is Django's handler with the sync chain
(Django's WSGI handler builds the same one) run in one `sync_to_async` call;
everything around it (reading the body, the request signals, sending the
response, the client disconnect) stays Django's own.

It overrides two methods that are public by name though not documented
(`load_middleware`, `get_response_async`); every HTTP test that goes
through the ASGI application runs through it, so a Django release that
changes them fails the suite, not a deployment.

Where the call runs: on SQLite on the process's one sync thread
(`ONE_SYNC_THREAD`); on PostgreSQL on a fixed pool of `HTTP_THREADS` threads.
Either way on that thread's one kept database connection (lobby/dbconn.py),
never a connect, set-up and close per request. See docs/operations.md.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

from lobby import dbconn

ONE_SYNC_THREAD = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
"""On SQLite, HTTP requests run their sync code on the process's one sync thread.

Django's handler gives every request a thread of its own; SQLite takes one
writer at a time and makes the others poll (sleeping up to 100 ms between
tries), so a burst of guest sessions from 50 threads spent its time waiting
(issue #17). One thread, shared with the runtime's database work, queues
them instead. PostgreSQL queues writers itself: requests run on a pool of
`HTTP_THREADS` threads, each with its connection kept open (a thread and a
connection made per request cost about half of a guest session's CPU).
"""


class SyncChainHandler(ASGIHandler):
    """Django's ASGI handler whose middleware chain and view run as one sync call."""

    def __init__(self) -> None:
        super().__init__()
        # The one call per request, made once: on the one sync thread, or on the pool.
        if ONE_SYNC_THREAD:
            self._call = sync_to_async(self._respond, thread_sensitive=True)
        else:
            pool = ThreadPoolExecutor(max_workers=settings.ARENA.http_threads,
                                      thread_name_prefix="http")
            self._call = sync_to_async(self._respond, thread_sensitive=False, executor=pool)

    def load_middleware(self, is_async: bool = False) -> None:
        # ASGIHandler asks for the async chain; build the sync one.
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await self._call(request)
        return response

    def _respond(self, request: HttpRequest) -> HttpResponseBase:
        with dbconn.kept():
            return self.get_response(request)

    async def serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """One HTTP request (`__call__` without its per-request ThreadSensitiveContext:
        the request's own work runs where `get_response_async` puts it)."""
        await self.handle(scope, receive, send)
