"""Fixtures: a reference server in a subprocess on a free loopback port."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

StartRef = Callable[..., Awaitable[str]]


@pytest.fixture
async def reference_server() -> AsyncIterator[StartRef]:
    """``await reference_server(*extra_args)`` -> base URL ``http://127.0.0.1:<port>``.

    The server runs as ``python -m load_tests.reference_server --port 0`` and is
    ready once it prints ``READY host:port``; every server is stopped at teardown.
    """
    procs: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "load_tests.reference_server", "--host", "127.0.0.1",
            "--port", "0", *args, stdout=asyncio.subprocess.PIPE,
        )
        procs.append(proc)
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = (await proc.stdout.readline()).decode()
        assert line.startswith("READY "), line
        return "http://" + line.split()[1]

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
