"""Signals the lobby sends for the layers above it (the lobby never imports them)."""

from __future__ import annotations

from django.dispatch import Signal

room_list_changed = Signal()
"""The public room list may have changed (sent after the commit).

`room` is the room's name, or None when many rooms changed at once.

The runtime debounces these into `rooms` pushes to every lobby socket
(gameserver/roomlist.py)."""
