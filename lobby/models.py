"""Accounts. Guests are ordinary users with a display name and no password."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models


def new_token_key() -> str:
    return secrets.token_hex(16)


class User(AbstractUser):
    """A player. `display_name` is what others see; `username` is internal.

    `token_key` binds issued tokens to this user: rotating it revokes them all.
    """

    display_name = models.CharField(max_length=24)
    is_guest = models.BooleanField(default=False)
    token_key = models.CharField(max_length=32, default=new_token_key)

    @property
    def public(self) -> dict[str, object]:
        """The user as other players see it on the wire."""
        return {"id": self.pk, "name": self.display_name or self.username}
