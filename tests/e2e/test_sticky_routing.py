"""nginx in front of two processes: each room's sockets land on one process."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from engine import protocol
from gameserver.management.commands.runcluster import render_nginx
from tests.servers import LiveServer, RedisServer, free_port, http_json, require, wait_until

pytestmark = [pytest.mark.live, pytest.mark.redis]


@pytest.fixture
def nginx_front(
    tmp_path: Path, redis_server: RedisServer, start_server: Callable[..., LiveServer]
) -> Iterator[tuple[str, list[LiveServer]]]:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                       else None)
    require(binary is not None, "nginx is not installed")
    assert binary is not None
    backends = [start_server(REDIS_URL=redis_server.url) for _ in range(2)]
    port = free_port()
    config = render_nginx(tmp_path, "127.0.0.1", port, [b.port for b in backends])
    check = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(config)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(config)])
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return http_json("GET", f"{url}/healthz")[0] == 200
        except OSError:
            return False

    wait_until(healthy, 10, "nginx")
    yield url, backends
    process.terminate()
    process.wait(10)


async def welcome_server(url: str, room: str) -> str:
    status, body = http_json("POST", f"{url}/api/session/guest", {"name": "hash"})
    assert status == 201, body
    ws_url = url.replace("http://", "ws://") + f"/ws/game/{room}/?token={body['token']}"
    async with connect(ws_url) as ws:
        welcome = protocol.decode(await ws.recv())  # type: ignore[arg-type]
    assert welcome["t"] == "welcome"
    return str(welcome["server"])


async def test_each_room_is_hashed_to_one_process(
    nginx_front: tuple[str, list[LiveServer]],
) -> None:
    url, _ = nginx_front
    landed: dict[str, set[str]] = {}
    for room in [f"sticky-{i}" for i in range(8)]:
        for _ in range(3):
            landed.setdefault(room, set()).add(await welcome_server(url, room))
    assert all(len(servers) == 1 for servers in landed.values()), landed
    assert len(set().union(*landed.values())) == 2, "rooms spread over both processes"
