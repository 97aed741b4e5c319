"""Live: a match played in the runtime is recorded, stored when it ends, and verifies."""

from __future__ import annotations

import asyncio
from io import StringIO
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from tests.gameserver.game_client import GameClient, new_guest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_played_match_is_stored_and_its_recording_verifies() -> None:
    from gameserver.manager import get_manager
    from lobby import replays
    from lobby.models import MatchResult

    a_id, a_token = await new_guest("amy")
    b_id, b_token = await new_guest("bob")
    a, b = GameClient("rp1", a_token), GameClient("rp1", b_token)
    await a.connect()
    await b.connect()
    manager = get_manager()
    manager.force_phase("rp1", "start")
    await a.until(lambda f: f["t"] == "snap" and a.world["phase"] == "playing")
    for seq in range(1, 21):
        await a.send_input(seq, mx=1.0, fire=seq % 3 == 0)
        await b.send_input(seq, my=-1.0)
        await a.until(lambda f: f["t"] == "snap")
    await b.disconnect()  # a reconnect mid-match: a new input sequence
    b = GameClient("rp1", b_token)
    await b.connect()
    for seq in range(1, 11):
        await b.send_input(seq, mx=-1.0, fire=True)
        await b.until(lambda f: f["t"] == "snap")
    manager.force_phase("rp1", "end")
    await a.until(
        lambda f: f["t"] == "events" and any(e["kind"] == "match_end" for e in f["events"]))
    match = None
    for _ in range(200):  # stored by a background task, off the tick
        match = await MatchResult.objects.filter(room="rp1").exclude(replay="").afirst()
        if match is not None:
            break
        await asyncio.sleep(0.05)
    assert match is not None, "the match's recording was not stored"
    rec = await database_sync_to_async(replays.load)(match)
    assert {r.player_id for r in rec.records() if r.kind == "input"} == {a_id, b_id}
    assert any(r.kind == "reset" and r.player_id == b_id for r in rec.records())
    out = StringIO()
    await database_sync_to_async(call_command)("verifyreplay", str(match.pk), stdout=out)
    assert out.getvalue().startswith(f"match {match.pk}: replay verified")
    await a.disconnect()
    await b.disconnect()


async def test_with_recording_off_a_match_is_stored_without_a_replay(settings: Any) -> None:
    from gameserver.manager import get_manager
    from lobby.models import MatchResult

    settings.ARENA = settings.ARENA.model_copy(update={"replay_recording": False})
    _, a_token = await new_guest("amy")
    a = GameClient("rp2", a_token)
    await a.connect()
    manager = get_manager()
    manager.force_phase("rp2", "start")
    await a.until(lambda f: f["t"] == "snap" and a.world["phase"] == "playing")
    assert not len(manager.engines["rp2"].match.input_log)
    await a.send_input(1, mx=1.0)
    await a.until(lambda f: f["t"] == "snap" and a.world["acks"] and
                  max(a.world["acks"].values()) >= 1)
    manager.force_phase("rp2", "end")
    match = None
    for _ in range(200):
        match = await MatchResult.objects.filter(room="rp2").afirst()
        if match is not None:
            break
        await asyncio.sleep(0.05)
    assert match is not None and match.replay == ""
    assert not len(manager.engines["rp2"].match.input_log)
    await a.disconnect()
