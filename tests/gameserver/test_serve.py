"""`EVENT_LOOP` (gameserver/serve.py): which loop the server's process runs, and bad values."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Literal

import pytest
import uvloop

from gameserver import conf, serve
from tests.servers import ROOT


@pytest.fixture(autouse=True)
def standard_policy() -> Iterator[None]:
    """Each test leaves asyncio's default policy behind, whatever it chose."""
    yield
    asyncio.set_event_loop_policy(None)


def loop_made() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()  # what daphne does when its server module is imported
    loop.close()
    return loop


@pytest.mark.parametrize("setting", ["auto", "uvloop"])
def test_uvloop_by_default_and_on_request(setting: Literal["auto", "uvloop"]) -> None:
    assert serve.choose_loop(setting) == ("uvloop", None)
    assert isinstance(loop_made(), uvloop.Loop)


def test_auto_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENT_LOOP", raising=False)
    assert conf.load().event_loop == "auto"


def test_asyncio_on_request() -> None:
    serve.choose_loop("uvloop")
    assert serve.choose_loop("asyncio") == ("asyncio", None)
    loop = loop_made()
    assert not isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.BaseEventLoop)


def test_without_uvloop_auto_falls_back_with_a_warning_and_uvloop_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    loop, warning = serve.choose_loop("auto")
    assert loop == "asyncio" and warning is not None and "uvloop cannot be imported" in warning
    assert not isinstance(loop_made(), uvloop.Loop)
    with pytest.raises(serve.EventLoopError, match="EVENT_LOOP=uvloop, but uvloop cannot"):
        serve.choose_loop("uvloop")


@pytest.mark.parametrize("setting", ["uv", "trio", "asyncio,uvloop", "UVLOOP", ""])
def test_an_unknown_loop_is_refused(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_LOOP", setting)
    with pytest.raises(conf.ConfigError, match=r"EVENT_LOOP=.*'auto', 'uvloop' or 'asyncio'"):
        conf.load()


def test_the_server_refuses_to_start_on_an_unknown_loop() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gameserver.serve", "-b", "127.0.0.1", "-p", "1",
         "gameserver.asgi:application"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "EVENT_LOOP": "libuv"},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("gameserver.serve: bad environment: EVENT_LOOP='libuv'")
