"""A live server on each event loop `EVENT_LOOP` offers (gameserver/serve.py).

Every other live test runs on the default, uvloop; this one also plays on
asyncio's standard loop (where uvloop cannot be imported, or by choice), with
the socket adapter's fast path in both, and says which loop it runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.players import join
from tests.servers import LiveServer, migrate, server_env

pytestmark = pytest.mark.live


@pytest.mark.parametrize(("setting", "loop"), [(None, "uvloop"), ("asyncio", "asyncio")])
async def test_a_player_plays_on_each_loop(
    setting: str | None, loop: str, tmp_path: Path
) -> None:
    overrides = {"LOG_LEVEL": "INFO"}
    if setting is not None:
        overrides["EVENT_LOOP"] = setting
    env = server_env(tmp_path / "arena.sqlite3", overrides)
    migrate(env)
    server = LiveServer(env=env).start()
    try:
        assert f"gameserver.serve event loop: {loop}" in server.log()
        player = await join(server, f"loop-{loop}", "ann")
        await player.until(lambda: player.state is not None)
        await player.move(mx=1.0)
        await player.until(lambda: (player.state or {}).get("acks", {}).get(player.user_id) == 1)
        assert server.metric("arena_socket_path_total", {"path": "fast"}) == 1
        await player.ws.close()
    finally:
        server.stop()
    assert server.process is not None and server.process.returncode == 0  # SIGTERM: a clean exit
