"""Login CSRF, one credential per request, logout, limits on every write (docs/security.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from lobby import tokens
from lobby.models import Room, User
from tests.lobby.helpers import (
    LobbyClient,
    anew_user,
    assert_error,
    bearer,
    make_user,
    post_json,
)

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "http://testserver"


def browser_login(client: Client, **headers: str) -> Any:
    return post_json(client, "/api/session/guest", {"name": "ann"}, **headers)


# Login CSRF: POST /api/session/guest -------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://testserver"},  # another scheme
        {"Origin": "http://testserver:8080"},  # another port
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "http://testserver@evil.example"},
        {"Referer": "http://evil.example/page.html"},
        {"Origin": "http://evil.example", "Referer": f"{SITE}/"},
    ],
)
def test_a_cross_site_login_is_refused_and_sets_no_session(headers: dict[str, str]) -> None:
    client = Client()
    before = User.objects.count()
    answer = browser_login(client, **headers)
    assert_error(answer, 403, "csrf_failed")
    assert "sessionid" not in answer.cookies, "no session cookie may be set"
    assert User.objects.count() == before, "nothing was created"
    assert_error(client.get("/api/session"), 401, "not_authenticated")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": SITE},
        {"Origin": "http://testserver:80"},
        {"Origin": "HTTP://TestServer"},
        {"Referer": f"{SITE}/play/room-1/?x=1"},
        {},  # curl, bots: neither header
    ],
)
def test_a_same_site_or_headerless_login_works(headers: dict[str, str]) -> None:
    client = Client()
    answer = browser_login(client, **headers)
    assert answer.status_code == 201, answer.content
    assert "sessionid" in answer.cookies
    assert client.get("/api/session").status_code == 200


# One credential per request -----------------------------------------------------------


def test_a_session_cookie_request_with_a_stray_bearer_is_still_csrf_checked() -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser_login(browser).status_code == 201
    _, other_token = make_user("mallory")
    # Without the CSRF token: refused, even though a valid bearer token rides along.
    answer = post_json(browser, "/api/matchmake", {}, **bearer(other_token))
    assert_error(answer, 403, "csrf_failed")
    # With the CSRF token it acts as the cookie's user, never as the bearer's.
    browser.get("/")  # the page sets the csrftoken cookie
    csrf = browser.cookies["csrftoken"].value
    answer = post_json(browser, "/api/rooms", {"name": "mine"}, **bearer(other_token),
                       **{"X-CSRFToken": csrf})
    assert answer.status_code == 201, answer.content
    me = browser.get("/api/session").json()["user"]
    assert Room.objects.get(name="mine").created_by_id == me["id"]


def test_a_bearer_only_request_skips_csrf() -> None:
    _, token = make_user("bot")
    answer = post_json(Client(enforce_csrf_checks=True), "/api/matchmake", {}, **bearer(token))
    assert answer.status_code == 200, answer.content


def test_a_stale_cookie_does_not_fall_back_to_the_bearer_token() -> None:
    browser = Client()
    browser.cookies["sessionid"] = "not-a-session"
    _, token = make_user("bot")
    answer = browser.get("/api/session", headers=bearer(token))
    assert_error(answer, 401, "not_authenticated")
    assert "cookie" in answer.json()["error"]["message"]


# Logout -------------------------------------------------------------------------------


async def test_logout_with_a_cookie_revokes_tokens_closes_lobby_sockets_and_ends_the_session(
) -> None:
    browser = Client(enforce_csrf_checks=True)
    login = await sync_to_async(browser_login)(browser)
    token = login.json()["token"]
    lobby = await LobbyClient(token).connect()
    # Without the CSRF token a cookie logout is refused and changes nothing.
    refused = await sync_to_async(post_json)(browser, "/api/session/logout", {})
    assert_error(refused, 403, "csrf_failed")
    assert (await sync_to_async(browser.get)("/api/session")).status_code == 200

    await sync_to_async(browser.get)("/")
    csrf = browser.cookies["csrftoken"].value
    answer = await sync_to_async(post_json)(browser, "/api/session/logout", {},
                                            **{"X-CSRFToken": csrf})
    assert answer.status_code == 200 and answer.json() == {"logged_out": True}
    error = await lobby.of_type("error")
    assert error["code"] == "logged_out"
    assert await lobby.closed() == 4001
    # The session is over, the old token is refused on the API and on sockets.
    assert_error(await sync_to_async(browser.get)("/api/session"), 401, "not_authenticated")
    old = await sync_to_async(Client().get)("/api/session", headers=bearer(token))
    assert_error(old, 401, "bad_token")
    again = LobbyClient(token)
    connected, _ = await again.ws.connect()
    assert connected
    assert (await again.next_frame())["code"] == "bad_token"
    assert await again.closed() == 4001


async def test_logout_with_a_bearer_token_revokes_every_token_of_the_user() -> None:
    _, first = await anew_user("bot")
    second = await sync_to_async(lambda: Client().get("/api/session", headers=bearer(first))
                                 .json()["token"])()
    answer = await sync_to_async(post_json)(Client(), "/api/session/logout", {}, **bearer(first))
    assert answer.status_code == 200, answer.content
    for token in (first, second):
        gone = await sync_to_async(Client().get)("/api/session", headers=bearer(token))
        assert_error(gone, 401, "bad_token")
    assert_error(await sync_to_async(post_json)(Client(), "/api/session/logout", {}),
                 401, "not_authenticated")


# Limits on every write ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "path", "body"),
    [
        ("create_room_rate_per_minute", "/api/rooms", {}),
        ("notifications_read_rate_per_minute", "/api/notifications/read", {"all": True}),
        ("matchmake_rate_per_minute", "/api/matchmake", {}),
    ],
)
def test_each_write_is_rate_limited_per_user_with_retry_after(
    arena: Callable[..., None], setting: str, path: str, body: dict[str, Any]
) -> None:
    arena(**{setting: 2, "max_open_rooms_per_user": 100})
    _, token = make_user("writer")
    answers = [post_json(Client(), path, body, **bearer(token)) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [answers[0].status_code] * 2
    assert answers[0].status_code < 400, answers[0].content
    assert_error(answers[2], 429, "rate_limited")
    assert int(answers[2]["Retry-After"]) >= 1
    # Per user: someone else still has a budget.
    _, other = make_user("other")
    assert post_json(Client(), path, body, **bearer(other)).status_code < 400


def test_logout_is_rate_limited_per_user(arena: Callable[..., None]) -> None:
    arena(logout_rate_per_minute=2)
    user, _ = make_user("leaver")
    statuses = []
    for _ in range(3):
        user.refresh_from_db()  # each logout revokes the token before: log in again
        answer = post_json(Client(), "/api/session/logout", {}, **bearer(tokens.issue(user)))
        statuses.append(answer.status_code)
    assert statuses == [200, 200, 429]
    _, other = make_user("other")
    assert post_json(Client(), "/api/session/logout", {}, **bearer(other)).status_code == 200


def test_guest_logins_are_limited_per_client_address(arena: Callable[..., None]) -> None:
    arena(guest_rate_per_minute=2)
    answers = [browser_login(Client(REMOTE_ADDR="192.0.2.1")) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert_error(answers[2], 429, "rate_limited")
    assert browser_login(Client(REMOTE_ADDR="192.0.2.2")).status_code == 201
    # Without trusted proxies a forged X-Forwarded-For buys nothing.
    forged = browser_login(Client(REMOTE_ADDR="192.0.2.1"), **{"X-Forwarded-For": "203.0.113.9"})
    assert_error(forged, 429, "rate_limited")


def test_room_creation_is_capped_per_user_and_closed_rooms_do_not_count(
    arena: Callable[..., None],
) -> None:
    arena(max_open_rooms_per_user=2)
    user, token = make_user("host")
    made = [post_json(Client(), "/api/rooms", {}, **bearer(token)) for _ in range(2)]
    assert [a.status_code for a in made] == [201, 201]
    over = post_json(Client(), "/api/rooms", {"name": "third"}, **bearer(token))
    assert_error(over, 409, "too_many_open_rooms")
    assert "2" in over.json()["error"]["message"]
    assert not Room.objects.filter(name="third").exists(), "nothing was created"
    # Another user is not affected; closing a room frees a place.
    _, other = make_user("guest")
    assert post_json(Client(), "/api/rooms", {}, **bearer(other)).status_code == 201
    from lobby import rooms

    rooms.close_room(made[0].json()["room"]["name"])
    assert post_json(Client(), "/api/rooms", {"name": "third"}, **bearer(token)).status_code == 201
    assert Room.objects.filter(created_by=user, closed_at__isnull=True).count() == 2


# Behind a TLS-terminating proxy: X-Forwarded-Proto, believed only from one ------------


def test_a_https_login_through_a_trusted_proxy_matches_the_sites_https_origin(
    arena: Callable[..., None],
) -> None:
    arena(trusted_proxies="127.0.0.1/32")
    # A proxy passes the browser's Host as it was sent (gameserver/deploy/nginx.conf).
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_HOST="testserver")
    answer = browser_login(client, Origin="https://testserver", X_Forwarded_Proto="https")
    assert answer.status_code == 201, answer.content
    assert "sessionid" in answer.cookies
    # The same proxy saying the browser used plain http: an https Origin is foreign.
    answer = browser_login(Client(REMOTE_ADDR="127.0.0.1", HTTP_HOST="testserver"), Origin="https://testserver",
                           X_Forwarded_Proto="http")
    assert_error(answer, 403, "csrf_failed")


def test_a_client_cannot_claim_https_with_x_forwarded_proto(arena: Callable[..., None]) -> None:
    arena(trusted_proxies="127.0.0.1/32")
    client = Client(REMOTE_ADDR="127.0.0.5", HTTP_HOST="testserver")
    before = User.objects.count()
    answer = browser_login(client, Origin="https://testserver", X_Forwarded_Proto="https")
    assert_error(answer, 403, "csrf_failed")
    assert User.objects.count() == before
    # ...and its plain-http login is still its own origin.
    answer = browser_login(client, Origin=SITE, X_Forwarded_Proto="https")
    assert answer.status_code == 201, answer.content
