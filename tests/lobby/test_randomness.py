"""lobby/randomness.py: random strings as uniform as Django's, from one read of the OS's
random source; what a guest login draws with them (its session key and unusable password)."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, UNUSABLE_PASSWORD_SUFFIX_LENGTH
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.middleware.csrf import CSRF_SECRET_LENGTH
from django.test import Client

from lobby.models import User
from lobby.randomness import random_string


def _reads(*chunks: bytes) -> Iterator[bytes]:
    yield from chunks


def test_each_byte_below_the_largest_multiple_of_the_alphabet_picks_one_character() -> None:
    # 36 characters: bytes 0-251 map to byte % 36, 252-255 are rejected.
    reads = _reads(bytes([0, 35, 36, 251, 252, 255, 71]) + bytes(8))
    with mock.patch.object(secrets, "token_bytes", lambda n: next(reads)):
        assert random_string(5, VALID_KEY_CHARS) == (
            VALID_KEY_CHARS[0] + VALID_KEY_CHARS[35] + VALID_KEY_CHARS[0]
            + VALID_KEY_CHARS[251 % 36] + VALID_KEY_CHARS[71 % 36])


def test_rejected_bytes_are_made_up_by_another_read() -> None:
    sizes: list[int] = []
    reads = _reads(bytes([255] * 9 + [1]), bytes([2] * 12))

    def token_bytes(n: int) -> bytes:
        sizes.append(n)
        return next(reads)

    with mock.patch.object(secrets, "token_bytes", token_bytes):
        # 3 characters: only byte 255 is rejected.
        assert random_string(4, "abc") == "b" + "ccc"
    assert sizes == [12, 11]


def test_one_read_for_a_whole_string() -> None:
    with mock.patch.object(secrets, "token_bytes",
                           wraps=secrets.token_bytes) as read:
        value = random_string(40, string.ascii_letters + string.digits)
    assert len(value) == 40 and set(value) <= set(string.ascii_letters + string.digits)
    assert read.call_count <= 2  # a second read only if more than 8 of ~48 bytes were rejected


def test_every_character_can_come_up() -> None:
    drawn = set(random_string(4000, VALID_KEY_CHARS))
    assert drawn == set(VALID_KEY_CHARS)


@pytest.mark.parametrize("chars", ["", "x" * 257])
def test_an_alphabet_that_bytes_cannot_cover_is_refused(chars: str) -> None:
    with pytest.raises(ValueError):
        random_string(3, chars)


@pytest.mark.django_db
def test_a_guest_login_draws_only_djangos_csrf_secret_a_character_at_a_time() -> None:
    # Django's get_random_string reads the random source once per character (or more);
    # the session key and the unusable password come from lobby/randomness.py instead.
    drawn: list[Any] = []
    real = secrets.choice

    def choice(seq: Any) -> Any:
        drawn.append(seq)
        return real(seq)

    client = Client(HTTP_HOST="127.0.0.1")
    with mock.patch.object(secrets, "choice", choice):
        response = client.post("/api/session/guest", json.dumps({"name": "dot"}),
                               content_type="application/json")
    assert response.status_code == 201
    assert len(drawn) <= CSRF_SECRET_LENGTH  # login() rotates the CSRF secret: Django's own
    user = User.objects.get(pk=response.json()["user"]["id"])
    assert not user.has_usable_password()
    assert user.password.startswith(UNUSABLE_PASSWORD_PREFIX)
    assert len(user.password) == len(UNUSABLE_PASSWORD_PREFIX) + UNUSABLE_PASSWORD_SUFFIX_LENGTH
    assert not user.check_password("") and not user.check_password(user.password)
    key = client.cookies["sessionid"].value
    assert len(key) == 32 and set(key) <= set(VALID_KEY_CHARS)
    assert client.get("/api/session").status_code == 200
