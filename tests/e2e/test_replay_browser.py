"""The replay viewer in Debian's Chromium on a match really played on a live server.

Two socket players fight a short arena match to its end on a live daphne
server while the page watches it as a spectator (whose end-of-match screen
must link the replay, as must the lobby's match history); the match's
replay (`GET /api/matches/<id>/replay`, the server's own recording) opens at
`/replay/<id>/`, the mouse seeks to the middle of the
timeline, and the scoreboard on the page must be the one of the state the
playback document has at the tick shown. Then the keyboard: pause, seek,
speed, follow, and every control reachable with Tab.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Event
from typing import Any

import msgpack
import pytest

from engine import protocol
from engine.arena import GAME as ARENA
from tests.e2e.players import Player, join
from tests.e2e.test_browser_client import ARTIFACTS, TIMEOUT_MS, browser  # noqa: F401 (fixture)
from tests.e2e.test_ratings_live import wait_for
from tests.servers import LiveServer, http_json, migrate, server_env

pytestmark = [pytest.mark.browser, pytest.mark.live]

ROOM = "replay-e2e"


@pytest.fixture(scope="module")
def short_server() -> Iterator[LiveServer]:
    workdir = Path(tempfile.mkdtemp(prefix="arena-replay-"))
    env = server_env(workdir / "db.sqlite3", {"MATCH_SECONDS": "14", "COUNTDOWN_SECONDS": "0.5"})
    migrate(env)
    server = LiveServer(env=env)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def stick(x: float, y: float, tx: float, ty: float) -> tuple[float, float]:
    """Where to move (world units) to meet the other player in the top lane.

    The default map's walls all lie between y = 200 and y = 800 and between
    x = 300 and x = 1300: the top lane (y = 100) and the side columns (x = 100,
    x = 1500) are clear, and every spawn point reaches a side column along its
    row. So: to the nearer side column, up to the top lane, then along it to
    within 160 units of the other player.
    """
    if y > 130:
        side = 100.0 if x < 800 else 1500.0
        if abs(x - side) > 20:
            return (1.0 if side > x else -1.0), 0.0
        return 0.0, -1.0
    dx = tx - x
    if abs(dx) < 160 and abs(ty - y) < 160:
        return 0.0, 0.0
    return (1.0 if dx > 0 else -1.0), 0.0


async def fight(me: Player, other: Player, timeout: float = 60) -> None:
    """Meet the other player in the top lane and shoot at them until the match ends."""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, "the match did not end in time"
        frame = await me.frame()
        state = me.state
        if frame.get("t") != "snap" or state is None:
            continue
        if state.get("phase") == "ended":
            return
        players = state["players"]
        if state.get("phase") != "playing" or me.user_id not in players or (
                other.user_id not in players):
            continue
        x, y = (v / 8 for v in players[me.user_id][:2])  # the wire's 1/8 units
        tx, ty = (v / 8 for v in players[other.user_id][:2])
        mx, my = stick(x, y, tx, ty)
        me.seq += 1
        await me.ws.send(protocol.encode({
            "t": "input", "seq": me.seq, "mx": mx, "my": my,
            "aim": math.atan2(ty - y, tx - x), "fire": True,
        }))


def fetch_document(server: LiveServer, match_id: int, token: str) -> dict[str, Any]:
    """The replay endpoint's document, decoded from what it says it sends."""
    request = urllib.request.Request(f"{server.url}/api/matches/{match_id}/replay")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/msgpack, application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
        if "msgpack" in answer.headers.get("Content-Type", ""):
            doc: dict[str, Any] = msgpack.unpackb(body, raw=False, strict_map_key=False)
        else:
            doc = json.loads(body)
    return doc


def state_at(doc: dict[str, Any], tick: int) -> dict[str, Any]:
    """The document's state at the frame of `tick`, by the engine's codec (keyframe + deltas)."""
    ticks = [f["tick"] for f in doc["frames"]]
    index = ticks.index(tick)
    key = max(k for k in doc["keyframes"] if k <= index)
    state: dict[str, Any] = doc["frames"][key]
    for frame in doc["frames"][key + 1:index + 1]:
        state = ARENA.codec.apply(frame, state)
    return state


def board(state: dict[str, Any]) -> list[list[str]]:
    """The arena's scoreboard rows as the page shows them: name, score, kills, deaths."""
    rows = sorted(state["players"].items(), key=lambda kv: (-kv[1][7], kv[1][6], int(kv[0])))
    return [[str(p[8]), str(p[7]), str(p[5]), str(p[6])] for _, p in rows]


def test_a_played_match_is_replayed_and_seeks_to_the_scoreboard_of_its_middle(
    browser: Any, short_server: LiveServer  # noqa: F811 (the fixture)
) -> None:
    async def play(joined: Event) -> tuple[Player, Player]:
        ann = await join(short_server, ROOM, "ann")
        joined.set()
        bob = await join(short_server, ROOM, "bob")
        await asyncio.gather(fight(ann, bob), fight(bob, ann))
        await ann.ws.close()
        await bob.ws.close()
        return ann, bob

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(short_server.url + "/")
        page.fill("#name-input", "viewer")
        page.click("#name-form button[type=submit]")
        page.wait_for_selector("#lobby-main", state="visible")
        # Playwright's sync API runs an event loop in this thread: the sockets get their own.
        # The page watches the match as a spectator.
        joined = Event()
        with ThreadPoolExecutor(1) as pool:
            played = pool.submit(asyncio.run, play(joined))
            assert joined.wait(30), "ann could not join"
            page.goto(f"{short_server.url}/play/{ROOM}/?spectate=1")
            page.wait_for_function("window.__arena && window.__arena.connected")
            ann, _bob = played.result(timeout=90)

        def listed() -> Any:
            status, body = http_json("GET", f"{short_server.url}/api/matches?user={ann.user_id}")
            assert status == 200, body
            return next((m for m in body["matches"] if m["room"] == ROOM and m["replay"]), None)

        match = wait_for(listed, 20, "the match with its replay in the history")
        assert match["replay"] == f"/api/matches/{match['id']}/replay"
        doc = fetch_document(short_server, match["id"], ann.token)
        assert doc["match_id"] == match["id"] and doc["game"] == "arena" and doc["room"] == ROOM
        middle = (doc["first_tick"] + doc["last_tick"]) / 2
        assert any(e["kind"] == "kill" for e in doc["events"]), "the players fought"
        final = board(state_at(doc, doc["last_tick"]))
        start = board(state_at(doc, doc["first_tick"]))

        # The end of the match on the play page links its replay...
        page.wait_for_selector(f"#replay-link a[href='/replay/{match['id']}/']", timeout=30_000)
        # ...and so does the lobby's match history.
        page.goto(short_server.url + "/")
        link = page.locator(f"#matches-body a[href='/replay/{match['id']}/']")
        link.wait_for()
        link.click()
        page.wait_for_url(f"**/replay/{match['id']}/")
        page.wait_for_function("window.__replay && window.__replay.ready")
        assert page.evaluate("window.__replay.playing") is True, "it starts playing"
        page.keyboard.press("Space")
        page.wait_for_function("!window.__replay.playing")

        # Seek with the mouse to the middle of the timeline.
        box = page.locator("#timeline").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        span = doc["last_tick"] - doc["first_tick"]
        page.wait_for_function(
            f"Math.abs(window.__replay.playhead - {middle}) <= {0.05 * span}"
            " && window.__replay.shownTick !== null"
            " && window.__replay.shownTick <= window.__replay.playhead"
            f" && window.__replay.playhead - window.__replay.shownTick < {doc['tick_rate']}")
        shown = page.evaluate("window.__replay.shownTick")
        seek = page.evaluate("window.__replay.lastSeek")
        expected = board(state_at(doc, shown))
        rows = page.eval_on_selector_all(
            "#scoreboard-body tr",
            "rows => rows.map(r => [...r.children].map(c => c.textContent))")
        assert rows == expected, f"the scoreboard at tick {shown}"
        per_key = doc["keyframe_interval"] * doc["snapshot_rate"] // doc["tick_rate"]
        assert seek["keyframe"] % per_key == 0 and seek["applied"] < per_key
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "replay-middle.png"), full_page=True)

        # Seek with the mouse to a second after the first kill: that kill is on the board.
        first_kill = min(e["tick"] for e in doc["events"] if e["kind"] == "kill")
        target = min(doc["last_tick"], first_kill + doc["tick_rate"])
        inset = 8  # half of Chromium's range thumb: the value spans the track inside it
        page.mouse.click(
            box["x"] + inset + (box["width"] - 2 * inset) * (target - doc["first_tick"]) / span,
            box["y"] + box["height"] / 2)
        page.wait_for_function(
            f"Math.abs(window.__replay.playhead - {target}) <= {0.03 * span}"
            " && window.__replay.shownTick !== null"
            " && Math.abs(window.__replay.playhead - window.__replay.shownTick) < 1")
        after = page.evaluate("window.__replay.shownTick")
        assert after >= first_kill, (after, first_kill)
        rows = page.eval_on_selector_all(
            "#scoreboard-body tr",
            "rows => rows.map(r => [...r.children].map(c => c.textContent))")
        assert rows == board(state_at(doc, after)) != start, f"the scoreboard at tick {after}"

        # The keyboard: seek back, speed, follow, end; every control reachable with Tab.
        before = page.evaluate("window.__replay.playhead")
        page.keyboard.press("ArrowLeft")  # 5 s back (clamped at the start)
        back = max(doc["first_tick"], before - 5 * doc["tick_rate"])
        page.wait_for_function(
            f"Math.abs(window.__replay.playhead - {back}) < 1e-6"
            " && window.__replay.shownTick === Math.floor(window.__replay.playhead)")
        page.keyboard.press("Digit5")
        assert page.evaluate("window.__replay.speed") == 4
        assert page.input_value("#speed") == "4"
        page.keyboard.press("f")
        assert page.evaluate("window.__replay.following") in {p["id"] for p in doc["players"]}
        page.keyboard.press("End")
        page.wait_for_function(f"window.__replay.shownTick === {doc['last_tick']}")
        rows = page.eval_on_selector_all(
            "#scoreboard-body tr",
            "rows => rows.map(r => [...r.children].map(c => c.textContent))")
        assert rows == final and final != start, "the end's board, with its kills"
        reached = set()
        page.focus("#game-canvas")
        for _ in range(12):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("document.activeElement.id"))
        assert {"play", "timeline", "speed", "follow"} <= reached
        for control in ("timeline", "speed", "follow"):
            assert page.locator(f"label[for='{control}']").count() == 1
        assert not errors, errors
    finally:
        context.close()
