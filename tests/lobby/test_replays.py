"""Stored recordings: linked to their match, verifyreplay, retention, the replay API."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import msgpack
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from engine.arena import GAME as ARENA
from engine.recording import Recording
from lobby import history, replays, tasks
from lobby.models import MatchResult, Room, Task, User
from tests.engine.recording_helpers import SMALL_ARENA, tampered
from tests.engine.recording_helpers import Room as RoomLoop
from tests.lobby.helpers import make_user

pytestmark = pytest.mark.django_db


def played(seed: int = 4, ticks: int = 100) -> Recording:
    """A recorded arena match of three players, `ticks` ticks long."""
    room = RoomLoop(ARENA, ARENA.configure(SMALL_ARENA), seed=seed)
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


def get_replay(match_id: int, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().get(f"/api/matches/{match_id}/replay", headers=headers)


def test_the_replay_api_serves_the_playback_document_and_caches_it() -> None:
    rec = played(ticks=120)
    match = stored(rec, room="open-1")
    response = get_replay(match.pk)
    assert response.status_code == 200 and response["Content-Type"] == "application/msgpack"
    doc = msgpack.unpackb(response.content, raw=False, strict_map_key=False)
    assert (doc["t"], doc["match_id"], doc["game"], doc["room"]) == (
        "replay", match.pk, "arena", "open-1")
    assert doc["last_tick"] == rec.last_tick and doc["frames"][0]["full"] is True
    cached = match.replay + replays.PLAYBACK_SUFFIX
    assert default_storage.exists(cached)
    # The second answer is the cached copy (the recording is no longer read).
    default_storage.delete(match.replay)
    assert get_replay(match.pk).content == response.content


def test_replay_api_404s() -> None:
    assert get_replay(999).status_code == 404
    assert get_replay(stored(None).pk).json()["error"]["code"] == "not_found"
    gone = stored(played())
    default_storage.delete(gone.replay)
    assert get_replay(gone.pk).status_code == 404


def test_a_private_rooms_replay_is_for_its_players_and_staff() -> None:
    player, player_token = make_user("pia")
    _, outsider_token = make_user("oli")
    staff, staff_token = make_user("sam")
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    Room.objects.create(name="secret-1", private=True, max_players=4)
    match = stored(played(), room="secret-1", users=[player])
    assert match.private
    refused = get_replay(match.pk, outsider_token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "private"
    assert get_replay(match.pk).status_code == 403  # anonymous
    assert get_replay(match.pk, player_token).status_code == 200
    assert get_replay(match.pk, staff_token).status_code == 200
