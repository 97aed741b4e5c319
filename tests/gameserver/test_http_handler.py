"""HTTP through the ASGI application (gameserver/httphandler.py) and the session store.

A request's middleware chain and view run as one thread call, never back on
the event loop in between; a guest login writes its session row once; the
cookie it sets logs in afterwards, also over ASGI.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import AsyncToSync
from channels.testing import HttpCommunicator
from django.contrib.sessions.backends.base import CreateError
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lobby import sessionstore
from lobby.models import User

TX = pytest.mark.django_db(transaction=True)
HOST = (b"host", b"127.0.0.1")


async def _http(method: str, path: str, body: bytes = b"",
                headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    from gameserver.asgi import application

    comm = HttpCommunicator(application, method, path, body=body, headers=[HOST, *(headers or [])])
    response = dict(await comm.get_response(timeout=10))
    await comm.wait(timeout=10)  # the handler finishes (closes the request body) after sending
    return response


def _cookie(response: dict[str, Any]) -> bytes:
    for name, value in response["headers"]:
        if name.lower() == b"set-cookie" and value.startswith(b"sessionid="):
            return bytes(value.split(b";", 1)[0])
    raise AssertionError(f"no session cookie in {response['headers']!r}")


def _writes(queries: CaptureQueriesContext) -> list[str]:
    """Each INSERT / UPDATE / DELETE captured, as "<verb> <table>"."""
    found = []
    for query in queries.captured_queries:
        words = query["sql"].replace('"', "").split()
        if words[0] in ("INSERT", "DELETE"):  # INSERT INTO t, DELETE FROM t
            found.append(f"{words[0]} {words[2]}")
        elif words[0] == "UPDATE":
            found.append(f"UPDATE {words[1]}")
    return found


def test_the_middleware_chain_is_built_sync() -> None:
    from gameserver.asgi import django_http

    assert not asyncio.iscoroutinefunction(getattr(django_http, "_middleware_chain"))  # noqa: B009


@TX
async def test_a_guest_login_over_asgi_never_returns_to_the_loop_and_its_cookie_logs_in() -> None:
    calls = 0
    real = AsyncToSync.__call__

    def counting(self: AsyncToSync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(self, *args, **kwargs)

    with mock.patch.object(AsyncToSync, "__call__", counting):
        created = await _http("POST", "/api/session/guest",
                              json.dumps({"name": "ann"}).encode(),
                              [(b"content-type", b"application/json")])
    assert created["status"] == 201, created["body"]
    assert calls == 0, "the sync middleware went back to the event loop for the view"
    user = json.loads(created["body"])["user"]

    me = await _http("GET", "/api/session", headers=[(b"cookie", _cookie(created))])
    assert me["status"] == 200, me["body"]
    assert json.loads(me["body"])["user"] == user
    anonymous = await _http("GET", "/api/session")
    assert anonymous["status"] == 401


def _guest_login(name: str) -> tuple[Client, Any, CaptureQueriesContext]:
    """A guest login through Django's test client: (the client, its answer, the queries),
    after checking it answered 201 with exactly its two inserts."""
    client = Client(HTTP_HOST="127.0.0.1")
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/session/guest", {"name": name},
                               content_type="application/json")
    assert response.status_code == 201
    assert _writes(queries) == ["INSERT lobby_user", "INSERT django_session"]
    return client, response, queries


@pytest.mark.django_db
def test_a_guest_login_is_two_inserts_the_user_with_its_last_login_and_the_session() -> None:
    client, response, queries = _guest_login("bob")
    assert not any(q["sql"].startswith("SELECT") and "django_session" in q["sql"]
                   for q in queries.captured_queries)
    row = Session.objects.get()
    assert row.get_decoded()["_auth_user_id"] == str(response.json()["user"]["id"])
    assert User.objects.get(pk=response.json()["user"]["id"]).last_login is not None
    assert client.get("/api/session").status_code == 200


@pytest.mark.django_db
def test_any_other_login_still_records_the_last_login() -> None:
    user = User.objects.create_user(username="staffer", password="a long password 123")
    assert user.last_login is None
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    user.refresh_from_db()
    assert user.last_login is not None


def _transactions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every transaction a database connection starts from now on (Django's `atomic()`
    and any explicit one begin by turning autocommit off), by the alias it was on."""
    started: list[str] = []
    real = BaseDatabaseWrapper.set_autocommit

    def spy(self: BaseDatabaseWrapper, autocommit: bool, *args: Any, **kwargs: Any) -> None:
        if not autocommit:
            started.append(self.alias)
        real(self, autocommit, *args, **kwargs)

    monkeypatch.setattr(BaseDatabaseWrapper, "set_autocommit", spy)
    return started


@TX
def test_a_guest_login_outside_a_transaction_opens_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each of its two inserts is one statement in autocommit: no BEGIN and COMMIT.
    started = _transactions(monkeypatch)
    client, _, _ = _guest_login("cat")
    assert started == []
    assert client.get("/api/session").status_code == 200


@pytest.mark.parametrize("db", [
    pytest.param("atomic", marks=pytest.mark.django_db, id="inside-a-transaction"),
    pytest.param("autocommit", marks=TX, id="autocommit"),
])
def test_a_taken_key_is_never_overwritten_a_new_one_is_tried(db: str) -> None:
    first = sessionstore.SessionStore()
    first["owner"] = "first"
    first.save()
    taken = first.session_key
    assert taken is not None

    second = sessionstore.SessionStore()
    keys = iter([taken, "k" * 32])
    with mock.patch.object(sessionstore, "random_string", lambda *_: next(keys)):
        second.create()
        second["owner"] = "second"
        second.save()
    assert second.session_key == "k" * 32
    assert sessionstore.SessionStore(taken).load() == {"owner": "first"}
    assert sessionstore.SessionStore("k" * 32).load() == {"owner": "second"}

    third = sessionstore.SessionStore()
    with mock.patch.object(sessionstore, "random_string", lambda *_: taken), \
            pytest.raises(CreateError):
        third.save()
    assert sessionstore.SessionStore(taken).load() == {"owner": "first"}


@pytest.mark.django_db
def test_an_existing_session_saves_as_an_update() -> None:
    store = sessionstore.SessionStore()
    store["n"] = 1
    store.save()
    again = sessionstore.SessionStore(store.session_key)
    again["n"] = 2
    with CaptureQueriesContext(connection) as queries:
        again.save()
    assert _writes(queries) == ["UPDATE django_session"]
    assert sessionstore.SessionStore(store.session_key).load() == {"n": 2}
