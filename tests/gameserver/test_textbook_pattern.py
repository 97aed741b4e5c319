"""The textbook pattern the bench measures (load_tests/textbook.py) still plays.

Its consumers join the room's channel-layer group themselves instead of the
room's hub; a room with no hub socket publishes through the layer, so they
get the full snapshot and then deltas (the bench's `textbook` run measured
nothing while they did not).
"""

from __future__ import annotations

import pytest

from tests.gameserver.game_client import GameClient, new_guest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_textbook_consumers_get_snapshots_through_the_channel_layer() -> None:
    from load_tests.textbook import application

    _, token = await new_guest("tex")
    client = GameClient("textbook-room", token, app=application)
    assert (await client.connect())["t"] == "welcome"
    await client.until(lambda f: f["t"] == "snap" and f["full"])
    for _ in range(3):
        await client.until(lambda f: f["t"] == "snap" and not f["full"])
    assert client.state is not None and client.snapshots >= 4
    await client.ws.disconnect()
