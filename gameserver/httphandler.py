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

On SQLite every request runs on the process's one sync thread
(`ONE_SYNC_THREAD`) and on its one kept connection (lobby/dbconn.py);
see docs/operations.md.
"""

from __future__ import annotations

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
them instead, on one connection kept open (no connect, set-up and close per
request). PostgreSQL queues writers itself: requests keep their threads
(and a connection each for the request, as Django's `CONN_MAX_AGE = 0`).
"""


class SyncChainHandler(ASGIHandler):
    """Django's ASGI handler whose middleware chain and view run as one sync call."""

    def load_middleware(self, is_async: bool = False) -> None:
        # ASGIHandler asks for the async chain; build the sync one.
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await sync_to_async(self._respond, thread_sensitive=True)(
            request)
        return response

    def _respond(self, request: HttpRequest) -> HttpResponseBase:
        if ONE_SYNC_THREAD:
            with dbconn.kept():
                return self.get_response(request)
        return self.get_response(request)

    async def serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """One HTTP request; on SQLite on the one sync thread (see `ONE_SYNC_THREAD`)."""
        if ONE_SYNC_THREAD:
            # `__call__` without its per-request ThreadSensitiveContext.
            await self.handle(scope, receive, send)
        else:
            await self(scope, receive, send)
