"""Guest sessions and bearer tokens over HTTP (docs/protocol.md)."""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from lobby import tokens
from lobby.models import User

pytestmark = pytest.mark.django_db


def post_json(client: Client, path: str, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, raw, content_type="application/json", headers=headers)


def guest(client: Client, name: str = "ann") -> dict[str, Any]:
    answer = post_json(client, "/api/session/guest", {"name": name})
    assert answer.status_code == 201, answer.content
    return answer.json()  # type: ignore[no-any-return]


def assert_error(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_guest_session_returns_user_and_token_and_logs_in() -> None:
    client = Client()
    body = guest(client, "  Ann  ")
    assert body["user"]["name"] == "Ann"
    assert isinstance(body["user"]["id"], int)
    assert User.objects.get(pk=body["user"]["id"]).is_guest
    # The session cookie now authenticates the browser.
    me = client.get("/api/session")
    assert me.status_code == 200 and me.json()["user"] == body["user"]


def test_each_guest_is_a_new_user_even_with_the_same_name() -> None:
    first, second = guest(Client(), "ann"), guest(Client(), "ann")
    assert first["user"]["id"] != second["user"]["id"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 25},
        {"name": 123},
        {"name": None},
        {"name": ["ann"]},
        {"name": "bell\x07"},
        {"name": "new\nline"},
    ],
)
def test_guest_rejects_bad_names(body: Any) -> None:
    before = User.objects.count()
    assert_error(post_json(Client(), "/api/session/guest", body), 400, "invalid")
    assert User.objects.count() == before


@pytest.mark.parametrize("raw", ["{", "[1, 2]", "\"ann\"", b"\xff\xfe", "null"])
def test_guest_rejects_bodies_that_are_not_json_objects(raw: Any) -> None:
    assert_error(post_json(Client(), "/api/session/guest", raw), 400, "bad_json")


def test_guest_rejects_oversized_body_and_wrong_method() -> None:
    big = {"name": "a" * 100_000}
    assert_error(post_json(Client(), "/api/session/guest", big), 413, "too_large")
    assert_error(Client().get("/api/session/guest"), 405, "method_not_allowed")


def test_unknown_paths_answer_json_404() -> None:
    assert_error(Client().get("/api/no/such/thing"), 404, "not_found")


def test_bearer_token_authenticates_http() -> None:
    body = guest(Client())
    me = Client().get("/api/session", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["user"]["id"] == body["user"]["id"]
    assert_error(Client().get("/api/session"), 401, "not_authenticated")


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer not-a-token", "Token x"])
def test_bad_authorization_header_is_refused(header: str) -> None:
    assert_error(Client().get("/api/session", headers={"Authorization": header}), 401, "bad_token")


def test_forged_token_is_refused() -> None:
    body = guest(Client())
    token = body["token"]
    payload, _, _rest = token.partition(":")
    other = guest(Client(), "mallory")
    # Someone else's signature on this payload, and a flipped signature character.
    forged = [
        f"{payload}:{other['token'].partition(':')[2]}",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
    ]
    for candidate in forged:
        with pytest.raises(tokens.TokenError) as caught:
            tokens.user_for(candidate)
        assert caught.value.code == "bad_token"


def test_expired_token_is_refused() -> None:
    user = User.objects.create(username="u1", display_name="u1")
    from django.conf import settings

    issued_at = time.time() - settings.ARENA.token_ttl_seconds - 5
    with mock.patch("time.time", return_value=issued_at):
        token = tokens.issue(user)
    with pytest.raises(tokens.TokenError) as caught:
        tokens.user_for(token)
    assert caught.value.code == "token_expired"
    answer = Client().get("/api/session", headers={"Authorization": f"Bearer {token}"})
    assert_error(answer, 401, "token_expired")


def test_rotating_the_users_key_revokes_tokens() -> None:
    body = guest(Client())
    user = User.objects.get(pk=body["user"]["id"])
    assert tokens.user_for(body["token"]).pk == user.pk
    user.token_key = "0" * 32
    user.save()
    with pytest.raises(tokens.TokenError):
        tokens.user_for(body["token"])


def test_token_of_deactivated_user_is_refused() -> None:
    body = guest(Client())
    User.objects.filter(pk=body["user"]["id"]).update(is_active=False)
    with pytest.raises(tokens.TokenError):
        tokens.user_for(body["token"])
