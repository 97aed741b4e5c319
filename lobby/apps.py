from __future__ import annotations

from django.apps import AppConfig


class LobbyConfig(AppConfig):
    name = "lobby"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After django.contrib.auth's ready() (INSTALLED_APPS order), which
        # connected `update_last_login` under this dispatch_uid.
        from django.contrib.auth.models import update_last_login
        from django.contrib.auth.signals import user_logged_in

        from lobby.accounts import record_last_login

        user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
        user_logged_in.connect(record_last_login, dispatch_uid="update_last_login")
