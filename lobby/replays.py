"""Stored match recordings: saving, loading, verifying, the playback document, retention.

A finished match's recording (engine/recording.py) reaches the lobby with
the `match_end` hook; `history.store_match` saves it here (`save`: zlib-
compressed, through Django's storage API, `default_storage`) from the
runtime's background hook thread, never in the tick, and links the storage
name to the `MatchResult` row (`replay`) in the transaction that stores the
match. `GET /api/matches/<id>/replay` serves the playback document
(engine/playback.py), built from the recording by re-simulation on the first
request and cached beside it (`<name>.playback`). `cleanup` (the periodic
task `replay.cleanup`, lobby/tasks.py) deletes recordings of matches that
ended more than `REPLAY_RETENTION_DAYS` ago, with their cached playback, and
clears the link.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import msgpack
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from engine import recording
from engine.errors import EngineError
from engine.playback import PlaybackError, build_playback
from engine.recording import Recording, Verdict
from lobby import games, outbox
from lobby.models import LobbyState, MatchResult, User

logger = logging.getLogger(__name__)

DIRECTORY = "replays"
"""Where recordings go in the storage."""
PLAYBACK_SUFFIX = ".playback"
CLEANUP_SECONDS = 3600
"""The retention cleanup runs at most once per this many seconds (all processes together)."""
CLEANUP_KEY = "replay.cleanup"


class NoReplay(Exception):
    """The match is unknown, has no recording, or its recording cannot be read."""


def save(rec: Recording) -> str:
    """Store `rec` compressed; returns its storage name (sync: storage I/O)."""
    name = f"{DIRECTORY}/{rec.game}-{uuid.uuid4().hex}.rec"
    return str(default_storage.save(name, ContentFile(recording.pack(rec))))


def delete(name: str) -> None:
    """Remove a recording and its cached playback (missing files are fine)."""
    for path in (name, name + PLAYBACK_SUFFIX):
        try:
            default_storage.delete(path)
        except OSError:
            logger.warning("could not delete %s from the storage", path, exc_info=True)


def match_with_replay(match_id: int) -> MatchResult:
    """The match row; `NoReplay` if unknown or without a recording."""
    match = MatchResult.objects.filter(pk=match_id).first()
    if match is None:
        raise NoReplay(f"no match {match_id}")
    if not match.replay:
        raise NoReplay(f"match {match_id} has no recording")
    return match


def load(match: MatchResult) -> Recording:
    """The match's recording, read and decoded; `NoReplay` if missing or unreadable."""
    try:
        with default_storage.open(match.replay, "rb") as f:
            blob = f.read()
    except OSError:  # FileNotFoundError included
        raise NoReplay(f"match {match.pk}: recording {match.replay} is missing") from None
    try:
        return recording.unpack(blob, games.get)
    except (ValueError, games.UnknownGame) as exc:
        raise NoReplay(f"match {match.pk}: {exc}") from None


def playback(match: MatchResult) -> bytes:
    """The match's playback document, msgpack-encoded: the cached copy, else built from
    the recording (engine/playback.py) and cached. `NoReplay` if the recording is gone."""
    cached = match.replay + PLAYBACK_SUFFIX
    try:
        with default_storage.open(cached, "rb") as f:
            return bytes(f.read())
    except OSError:
        pass
    rec = load(match)
    definition = games.get(rec.game)
    try:
        config = definition.configure(rec.config)
    except EngineError:  # the game's config fields changed: the rates are what matter
        config = definition.default_config()
    try:
        doc = build_playback(definition, config, rec.seed, rec.records(), rec.last_tick,
                             match_id=match.pk, room=match.room, origin=rec.origin)
    except PlaybackError as exc:
        raise NoReplay(f"match {match.pk}: {exc}") from None
    data: bytes = msgpack.packb(doc, use_bin_type=True)
    if not default_storage.exists(cached):
        default_storage.save(cached, ContentFile(data))
    return data


def verify_recording(rec: Recording) -> Verdict:
    """Re-simulate a loaded recording and compare its checksums (engine/recording.py)."""
    return recording.verify(games.get(rec.game), rec)


def may_view(match: MatchResult, user: User | None) -> bool:
    """A public match's replay is everyone's; a private one its players' and staff's."""
    if not match.private:
        return True
    if user is None:
        return False
    return bool(user.is_staff) or match.players.filter(user_id=user.pk).exists()


def cleanup(now: datetime | None = None) -> int:
    """Delete the recordings of matches that ended before the retention period; how many.

    The links are cleared in the caller's transaction; the files go once it commits.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.ARENA.replay_retention_days)
    old = MatchResult.objects.filter(ended_at__lt=cutoff).exclude(replay="")
    rows = list(old.values_list("pk", "replay"))
    if not rows:
        return 0
    MatchResult.objects.filter(pk__in=[pk for pk, _ in rows]).update(replay="")
    names = [name for _, name in rows]

    def remove() -> None:
        for name in names:
            delete(name)

    transaction.on_commit(remove)
    return len(rows)


def schedule_cleanup(now: datetime | None = None) -> int | None:
    """Enqueue the task `replay.cleanup` once per `CLEANUP_SECONDS` (the sweepers call
    this; the `LobbyState` row `replay.cleanup`, locked, holds the last period that
    had one). The task's id, or None when this period has had its cleanup."""
    period = int((now or timezone.now()).timestamp() // CLEANUP_SECONDS)
    with transaction.atomic():
        row, _ = LobbyState.objects.select_for_update().get_or_create(
            key=CLEANUP_KEY, defaults={"value": "-1"})
        if row.value.lstrip("-").isdigit() and int(row.value) >= period:
            return None
        row.value = str(period)
        row.save(update_fields=["value"])
        return outbox.enqueue("replay.cleanup", {})
