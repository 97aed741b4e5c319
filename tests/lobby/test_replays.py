"""Stored recordings: linked to their match, verifyreplay, retention, the replay API."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from engine.arena import GAME as ARENA
from engine.recording import Recording
from lobby import history, replays, tasks
from lobby.models import MatchResult, Task
from tests.engine.recording_helpers import SMALL_ARENA, Room, tampered

pytestmark = pytest.mark.django_db


def played(seed: int = 4, ticks: int = 100) -> Recording:
    """A recorded arena match of three players, `ticks` ticks long."""
    room = Room(ARENA, ARENA.configure(SMALL_ARENA), seed=seed)
    for pid in (1, 2, 3):
        room.join(pid)
    room.match.start_now()
    for _ in range(ticks):
        room.arena_inputs()
        room.step()
    return room.recorder.finish()


def stored(rec: Recording | None, room: str = "arena-1", users: list[Any] | None = None
           ) -> MatchResult:
    lines = [{"player_id": u.pk, "name": u.username[:24], "score": 0, "place": i}
             for i, u in enumerate(users or [], start=1)]
    return history.store_match(room, 5.0, lines, "arena", rec)[0]


def verify(match_id: int) -> str:
    out = StringIO()
    call_command("verifyreplay", str(match_id), stdout=out)
    return out.getvalue()


def test_a_stored_recording_is_linked_listed_and_verifies() -> None:
    rec = played()
    match = stored(rec)
    assert match.replay.startswith("replays/") and default_storage.exists(match.replay)
    assert default_storage.size(match.replay) < len(rec.to_bytes())  # compressed
    listed = history.matches(None, 10, None)["matches"][0]
    assert listed["replay"] == f"/api/matches/{match.pk}/replay"
    line = verify(match.pk)
    assert line == (f"match {match.pk}: replay verified, {len(rec.checksums)} checksums match "
                    f"(arena v{ARENA.info.version}, ticks {rec.first_tick}..{rec.last_tick}, "
                    f"{len(rec.log)} calls)\n")


def test_a_match_without_recording_lists_no_replay() -> None:
    match = stored(None)
    assert match.replay == ""
    assert history.matches(None, 10, None)["matches"][0]["replay"] is None


def test_verifyreplay_names_the_first_tick_of_a_tampered_recording() -> None:
    rec = played(ticks=140)
    at = rec.first_tick + 50
    first_bad = min(t for t, _ in rec.checksums if t > at)
    match = stored(tampered(rec, at, ARENA))
    with pytest.raises(CommandError, match=f"differs at tick {first_bad} ") as caught:
        verify(match.pk)
    assert caught.value.returncode == 1


def test_verifyreplay_errors_for_unknown_missing_and_unreadable() -> None:
    with pytest.raises(CommandError, match="no match 999") as caught:
        verify(999)
    assert caught.value.returncode == 2
    without = stored(None)
    with pytest.raises(CommandError, match="has no recording"):
        verify(without.pk)
    gone = stored(played())
    default_storage.delete(gone.replay)
    with pytest.raises(CommandError, match="is missing") as caught:
        verify(gone.pk)
    assert caught.value.returncode == 2
    garbage = stored(played())
    default_storage.delete(garbage.replay)
    default_storage.save(garbage.replay, ContentFile(b"not a recording"))
    with pytest.raises(CommandError, match="malformed recording"):
        verify(garbage.pk)


def test_retention_removes_old_recordings_and_keeps_new_ones(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"replay_retention_days": 30})
    old, new = stored(played(seed=1)), stored(played(seed=2))
    old_name = old.replay
    default_storage.save(old_name + replays.PLAYBACK_SUFFIX, ContentFile(b"x"))
    MatchResult.objects.filter(pk=old.pk).update(ended_at=timezone.now() - timedelta(days=31))
    MatchResult.objects.filter(pk=new.pk).update(ended_at=timezone.now() - timedelta(days=29))
    task_id = replays.schedule_cleanup()
    assert task_id is not None and replays.schedule_cleanup() is None  # once per period
    with django_capture_on_commit_callbacks(execute=True):  # the files go after the commit
        assert tasks.execute(task_id)[0] == "done"
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.replay == "" and new.replay
    assert not default_storage.exists(old_name)
    assert not default_storage.exists(old_name + replays.PLAYBACK_SUFFIX)
    assert default_storage.exists(new.replay)
    assert Task.objects.get(pk=task_id).status == Task.DONE
    assert replays.schedule_cleanup(timezone.now() + timedelta(hours=1)) is not None
