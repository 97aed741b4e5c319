from __future__ import annotations

from django.apps import AppConfig


class ClientConfig(AppConfig):
    name = "client"
