"""The browser client in Debian's Chromium, driven by Playwright, on live daphne servers.

Two browser contexts are two people: guest names, a room, movement seen by
the other, room and lobby chat, a reload that resumes the same player,
notifications on the bell, prediction under added latency, and the messages
for rooms one cannot enter. The second game, paddle: picked in the lobby and
played by two pages on the server, and played by two pages against the
paddle engine behind faked sockets; the page's choice of game module.
Screenshots land in `test-artifacts/`.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ROOT, LiveServer, RedisServer, require

pytestmark = [pytest.mark.browser, pytest.mark.live]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(CHROMIUM.exists(), "chromium missing (apt-get install chromium)")
    require((ROOT / "client" / "node_modules" / "@msgpack" / "msgpack").is_dir(),
            "client/node_modules missing (make setup)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


class Person:
    """One browser context (its own cookies) with one page."""

    def __init__(self, browser: Any, server: LiveServer, tag: str) -> None:
        self.server = server
        self.tag = tag
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def goto(self, path: str) -> None:
        self.page.goto(self.server.url + path)

    def login(self, name: str) -> None:
        self.goto("/")
        self.page.fill("#name-input", name)
        self.page.click("#name-form button[type=submit]")
        self.page.wait_for_selector("#lobby-main", state="visible")
        self.page.wait_for_function("window.__lobby && window.__lobby.connected")

    def arena(self, expr: str) -> Any:
        return self.page.evaluate(f"window.__arena.{expr}")

    def wait_arena(self, condition: str, timeout: int = TIMEOUT_MS) -> None:
        script = f"(() => {{ const a = window.__arena; return {condition}; }})()"
        try:
            self.page.wait_for_function(script, timeout=timeout)
        except Exception as exc:
            raise AssertionError(f"{self.tag}: {condition} never held; {self.dump()}") from exc

    def dump(self) -> str:
        """The debug hook's view, for failure messages."""
        return str(self.page.evaluate(
            """(() => { const a = window.__arena; if (!a) return null;
               const out = {}; for (const k of ["own", "ownServer", "others", "playerId", "tick",
               "phase", "connected", "closeCode", "ack", "seq", "pending", "status"]) out[k] = a[k];
               return out; })()"""))

    def wait_in_game(self) -> None:
        self.wait_arena("a && a.connected && a.tick !== null && (a.spectator || a.own !== null)")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.tag}-{name}.png"), full_page=True)

    def hold(self, key: str, ms: int) -> None:
        self.page.keyboard.down(key)
        self.page.wait_for_timeout(ms)
        self.page.keyboard.up(key)

    def close(self) -> None:
        assert not self.errors, self.errors
        self.context.close()


def toward_centre(person: Person) -> str:
    """A key that moves this person's player toward the map's middle (so no bound stops it)."""
    own = person.arena("own")
    return "d" if own["x"] < 800 else "a"


def test_two_people_play_chat_and_resume(browser: Any, daphne_server: LiveServer) -> None:
    amy = Person(browser, daphne_server, "play-amy")
    bob = Person(browser, daphne_server, "play-bob")
    amy.login("amy")
    bob.login("bob")
    # Lobby chat, live in the other context.
    amy.page.fill("#chat-text", "hello lobby <b>not bold</b>")
    amy.page.press("#chat-text", "Enter")
    bob.page.wait_for_selector("#chat-log li:has-text('hello lobby <b>not bold</b>')")
    assert bob.page.locator("#chat-log b").count() == 0  # text, never markup
    amy.shot("lobby")

    # Amy creates a public room and lands in it; Bob sees it listed and joins.
    amy.page.fill("#room-name", "browser-room")
    amy.page.click("#create-form button[type=submit]")
    amy.page.wait_for_url("**/play/browser-room/")
    amy.wait_in_game()
    bob.page.wait_for_selector("#rooms-body tr:has-text('browser-room')")
    bob.shot("lobby-rooms")
    bob.page.click("#rooms-body a[aria-label='Join browser-room']")
    bob.page.wait_for_url("**/play/browser-room/")
    bob.wait_in_game()
    amy_id = amy.arena("playerId")
    bob_id = bob.arena("playerId")
    assert amy_id != bob_id
    amy.wait_arena(f"'{bob_id}' in a.others")
    bob.wait_arena(f"'{amy_id}' in a.others")
    # Two players start a match; wait for it so the start's respawn cannot interfere.
    amy.wait_arena("a.phase === 'playing'", timeout=20_000)
    bob.wait_arena("a.phase === 'playing'", timeout=20_000)
    # Others are drawn ~100 ms in the past: let the match start's respawn reach the screen.
    bob.page.wait_for_timeout(500)

    # Each sees the other move.
    x0 = bob.arena(f"others['{amy_id}'].x")
    key = toward_centre(amy)
    amy.hold(key, 600)
    sign = 1 if key == "d" else -1
    bob.wait_arena(f"({sign}) * (a.others['{amy_id}'].x - ({x0})) > 30")
    y0 = amy.arena(f"others['{bob_id}'].y")
    bob_key = "s" if bob.arena("own")["y"] < 500 else "w"
    bob.hold(bob_key, 600)
    ysign = 1 if bob_key == "s" else -1
    amy.wait_arena(f"({ysign}) * (a.others['{bob_id}'].y - ({y0})) > 30")
    amy.shot("game")

    # Room chat reaches the other player, as text.
    bob.page.fill("#chat-text", "gg <i>amy</i>")
    bob.page.press("#chat-text", "Enter")
    amy.page.wait_for_selector("#chat-log li:has-text('gg <i>amy</i>')")
    assert amy.page.locator("#chat-log i").count() == 0

    # HUD: scoreboard lists both, ping and snapshot rate are measured.
    amy.page.wait_for_selector("#scoreboard-body tr:has-text('bob')")
    amy.wait_arena("a.rtt !== null && a.snapshotRate >= 10")

    # Reloading mid-match resumes the same player: same id, same place on the map
    # (a new player would appear at a spawn point), and inputs count again.
    bob.hold(bob_key, 300)
    bob.page.wait_for_timeout(400)  # let friction stop the player
    where = bob.arena("ownServer")
    bob.page.reload()
    bob.wait_in_game()
    assert bob.arena("playerId") == bob_id
    after = bob.arena("ownServer")
    assert abs(after["x"] - where["x"]) < 1 and abs(after["y"] - where["y"]) < 1, (where, after)
    bob.hold(toward_centre(bob), 300)
    bob.wait_arena("a.ack !== null && a.ack >= 0")  # new inputs are accepted after the resume
    amy.wait_arena(f"'{bob_id}' in a.others")
    bob.shot("after-reload")
    amy.close()
    bob.close()


def test_prediction_and_interpolation_under_latency(
    browser: Any, daphne_server: LiveServer
) -> None:
    slow = Person(browser, daphne_server, "lag-slow")
    other = Person(browser, daphne_server, "lag-other")
    slow.login("slowpoke")
    other.login("mover")
    # ?lag=120 delays every game-socket send and receive by 120 ms (240 ms more round trip).
    slow.goto("/play/lag-room/?lag=120")
    slow.wait_in_game()
    other.goto("/play/lag-room/")
    other.wait_in_game()
    other_id = other.arena("playerId")
    slow.wait_arena(f"'{other_id}' in a.others")
    slow.wait_arena("a.phase === 'playing'", timeout=20_000)
    slow.wait_arena("a.rtt !== null && a.rtt > 200")
    slow.page.wait_for_timeout(800)  # the match start's respawn is on screen everywhere

    # The own player answers a key press within one frame, long before the server could.
    before = slow.arena("own")
    server_before = slow.arena("ownServer")
    key = toward_centre(slow)
    slow.page.keyboard.down(key)
    after = slow.page.evaluate(
        "new Promise(r => requestAnimationFrame(() => r(window.__arena.own)))")
    server_after = slow.arena("ownServer")
    slow.page.wait_for_timeout(400)
    later = slow.arena("own")
    slow.page.keyboard.up(key)
    sign = 1 if key == "d" else -1
    assert sign * (after["x"] - before["x"]) > 0, (before, after)
    assert server_after == server_before  # the server had not moved us yet: prediction did
    assert sign * (later["x"] - before["x"]) > 40
    # The prediction agrees with the server once it catches up (reconciliation).
    converged = "Math.abs(a.own.x - a.ownServer.x) < 1 && Math.abs(a.own.y - a.ownServer.y) < 1"
    slow.wait_arena(converged, timeout=3_000)

    # Others move smoothly: sampled every frame, the other player's drawn position
    # changes in many small steps (more than the snapshots that arrived).
    other_key = toward_centre(other)
    other.page.keyboard.down(other_key)
    samples = slow.page.evaluate(
        """id => new Promise(resolve => {
            const xs = [];
            function grab() {
              const o = window.__arena.others[id];
              if (o) xs.push(o.x);
              if (xs.length < 45) requestAnimationFrame(grab); else resolve(xs);
            }
            requestAnimationFrame(grab);
        })""",
        str(other_id),
    )
    other.page.keyboard.up(other_key)
    steps = [b - a for a, b in itertools.pairwise(samples)]
    moving = [s for s in steps if abs(s) > 1e-6]
    assert len(set(samples)) > 20, samples  # ~45 frames, 20 snapshots/s: interpolated
    assert max(abs(s) for s in steps) < 25, steps  # no jumps (250 u/s at 60 fps ~ 4 u/frame)
    assert moving and all((s > 0) == (moving[0] > 0) for s in moving), steps
    slow.shot("game")
    slow.close()
    other.close()


def test_private_room_needs_the_invite_and_spectators_watch(
    browser: Any, daphne_server: LiveServer
) -> None:
    host = Person(browser, daphne_server, "private-host")
    guest = Person(browser, daphne_server, "private-guest")
    host.login("host")
    guest.login("guest")
    host.page.check("#private")
    host.page.click("#create-form button[type=submit]")
    host.page.wait_for_selector("#invite", state="visible")
    link = host.page.input_value("#invite-link")
    assert "?invite=" in link
    host.shot("invite")
    path = link.split(str(daphne_server.port), 1)[1]
    room_path = path.split("?", 1)[0]
    # Without the invite: a clear message, no reconnect loop.
    guest.goto(room_path)
    guest.wait_arena("a.closeCode === 4003")
    assert "private" in guest.page.inner_text("#status")
    guest.shot("refused")
    # With it: in.
    guest.goto(path)
    guest.wait_in_game()
    # A room that never existed for spectators, and a public room watched.
    watcher = Person(browser, daphne_server, "watcher")
    watcher.login("watcher")
    watcher.goto(path + "&spectate=1")
    watcher.wait_in_game()
    assert watcher.arena("spectator") is True
    assert watcher.arena("own") is None
    watcher.shot("spectating")
    watcher.close()
    host.close()
    guest.close()


@pytest.fixture
def redis_daphne(redis_server: RedisServer, start_server: Any) -> LiveServer:
    """A daphne on Redis, so a notification sent from another process reaches its sockets."""
    return start_server(REDIS_URL=redis_server.url)  # type: ignore[no-any-return]


def test_notification_bell(browser: Any, redis_daphne: LiveServer) -> None:
    person = Person(browser, redis_daphne, "bell")
    person.login("belle")
    user_id = person.page.evaluate("window.__lobby.user.id")
    assert person.page.inner_text("#bell-count") == "0"
    code = (
        "from lobby.notifications import notify; "
        f"notify({int(user_id)}, 'system', {{'text': 'Welcome to the <arena>'}})"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code],
                   cwd=ROOT, env=redis_daphne.env, check=True, timeout=60)
    person.page.wait_for_function("document.getElementById('bell-count').textContent === '1'")
    person.page.click("#bell")
    person.page.wait_for_selector("#notification-list li:has-text('Welcome to the <arena>')")
    person.shot("bell")
    person.page.click("#notifications-read")
    person.page.wait_for_function("document.getElementById('bell-count').textContent === '0'")
    person.close()


def test_pages_reflow_at_200_percent_zoom(browser: Any, daphne_server: LiveServer) -> None:
    """A 640 px wide window at 2x device scale is what 200 % zoom of 1280 px gives:
    no sideways scrolling, and every control keeps its label."""
    context = browser.new_context(viewport={"width": 640, "height": 400}, device_scale_factor=2)
    page = context.new_page()
    page.goto(daphne_server.url + "/")
    page.fill("#name-input", "zoomer")
    page.click("#name-form button[type=submit]")
    page.wait_for_selector("#lobby-main", state="visible")
    for path in ("/", "/play/zoom-room/"):
        page.goto(daphne_server.url + path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (path, overflow)
        unlabeled = page.evaluate(
            """[...document.querySelectorAll("input, button")].filter(e =>
                 !e.labels?.length && !e.getAttribute("aria-label") && !e.textContent.trim()
                 && e.type !== "hidden").map(e => e.id)""")
        assert unlabeled == [], (path, unlabeled)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"zoom200{path.replace('/', '-')}.png"),
                        full_page=True)
    context.close()


def test_two_people_play_paddle(browser: Any, daphne_server: LiveServer) -> None:
    """The second game end to end: picked in the lobby, listed with its game, two
    pages play it (the server names it in `welcome.game`; the page loads
    games/paddle.js), a key press moves one paddle on the other page, and the
    ball scores a point on both scoreboards. Quick play with the paddle game
    picked lands in a paddle room. Needs the server with the games registry."""
    ann = Person(browser, daphne_server, "paddle-ann")
    ben = Person(browser, daphne_server, "paddle-ben")
    ann.login("ann")
    ben.login("ben")
    # The picker lists the server's games; Ann creates a paddle room.
    ann.page.wait_for_selector("#game-select option[value='paddle']", state="attached")
    ann.page.select_option("#game-select", "paddle")
    assert ann.page.input_value("#max-players") == "4"  # follows the game's seat limit
    ann.page.fill("#room-name", "paddle-room")
    ann.page.click("#create-form button[type=submit]")
    ann.page.wait_for_url("**/play/paddle-room/")
    ann.wait_in_game()
    assert ann.arena("game") == "paddle"
    assert ann.page.inner_text("#game-name") == "Paddle"
    # Ben sees the room listed with its game and joins it.
    # The row shows the game's name (from GET /api/games), not only its id.
    row = ben.page.locator("#rooms-body tr", has_text="paddle-room")
    row.locator("td", has_text=re.compile(r"^Paddle$")).wait_for()
    ben.page.click("#rooms-body a[aria-label='Join paddle-room']")
    ben.page.wait_for_url("**/play/paddle-room/")
    ben.wait_in_game()
    assert ben.arena("game") == "paddle"
    ann_id = ann.arena("playerId")
    ben_id = ben.arena("playerId")
    ann.wait_arena(f"'{ben_id}' in a.others")
    ben.wait_arena(f"'{ann_id}' in a.others")
    # The scoreboard is the game's: side, score, misses.
    ann.page.wait_for_selector("#scoreboard-head th:has-text('Misses')")
    ann.page.wait_for_selector("#scoreboard-body tr:has-text('ben')")
    ann.wait_arena("a.phase === 'playing'", timeout=20_000)
    ben.wait_arena("a.phase === 'playing'", timeout=20_000)
    ben.page.wait_for_timeout(400)  # the match start's paddle reset is on screen everywhere

    # Ann guards the left side: S moves her paddle down, at once on her page
    # (prediction) and ~100 ms later on Ben's (interpolation).
    y0 = ben.arena(f"others['{ann_id}'].y")
    own0 = ann.arena("own")
    ann.page.keyboard.down("s")
    moved = ann.page.evaluate(
        "new Promise(r => requestAnimationFrame(() => r(window.__arena.own)))")
    ann.page.wait_for_timeout(400)
    ann.page.keyboard.up("s")
    assert moved["y"] > own0["y"], (own0, moved)
    ben.wait_arena(f"a.others['{ann_id}'].y - ({y0}) > 2000")
    ann.wait_arena("Math.abs(a.own.y - a.ownServer.y) < 1", timeout=3_000)  # converged
    ann.shot("game")

    # Nobody defends the middle for long: a point is scored and both scoreboards show it.
    scored = ("a.scoreboard.rows.some(r => r.cells[a.scoreboard.columns.indexOf('Score')] > 0)")
    ann.wait_arena(scored, timeout=40_000)
    ben.wait_arena(scored, timeout=5_000)
    ben.page.wait_for_selector("#feed li:has-text('missed the ball')")
    ben.shot("scored")

    # Quick play with the paddle game picked lands in a paddle room.
    cy = Person(browser, daphne_server, "paddle-cy")
    cy.login("cy")
    cy.page.wait_for_selector("#game-select option[value='paddle']", state="attached")
    cy.page.select_option("#game-select", "paddle")
    cy.page.click("#quick-play")
    cy.page.wait_for_url("**/play/**")
    cy.wait_in_game()
    assert cy.arena("game") == "paddle"
    cy.close()
    ann.close()
    ben.close()


def test_play_page_loads_the_module_welcome_names(browser: Any, daphne_server: LiveServer) -> None:
    """The game socket faked in the browser: a welcome naming a game this client
    has no module for gives a clear message and no reconnect loop; a welcome
    without `game` (a server before the registry) plays the arena."""
    import msgpack

    def fake_server(welcome: dict[str, Any], then: list[dict[str, Any]]) -> Any:
        def handler(ws: Any) -> None:
            ws.send(msgpack.packb(welcome, use_bin_type=True))
            for frame in then:
                ws.send(msgpack.packb(frame, use_bin_type=True))
        return handler

    person = Person(browser, daphne_server, "module-pick")
    person.login("picker")
    base = {"t": "welcome", "player_id": 1, "room": "fake", "tick_rate": 20,
            "snapshot_rate": 20, "spectator": False, "server": "fake"}
    opened: list[str] = []
    chess = fake_server({**base, "game": "chess"}, [])

    def unknown_game(ws: Any) -> None:
        opened.append(ws.url)
        chess(ws)

    person.page.route_web_socket("**/ws/game/unknown-game/", unknown_game)
    person.goto("/play/unknown-game/")
    person.page.wait_for_function(
        "document.getElementById('status').textContent.includes('cannot play the game \"chess\"')")
    person.page.wait_for_timeout(1500)
    assert len(opened) == 1  # no reconnect loop
    assert person.arena("game") is None
    person.shot("unknown-game")

    snap = {"t": "snap", "tick": 5, "acks": {1: -1}, "full": True, "phase": "waiting",
            "phase_ends": 0, "map": [1600, 1000, []],
            "players": {1: [6400, 4000, 0, 100, 1, 0, 0, 0, "picker"]},
            "projectiles": {}, "pickups": {}}
    person.page.route_web_socket("**/ws/game/old-server/", fake_server(base, [snap]))
    person.goto("/play/old-server/")
    person.wait_arena("a.game === 'arena' && a.tick === 5 && a.own !== null")
    assert person.arena("own") == {"x": 800, "y": 500}
    person.close()


class EngineSocket:
    """The paddle engine behind faked game sockets, in this test process: each
    page's /ws/game/ socket is routed here (Playwright's route_web_socket), its
    inputs go to a real PaddleMatch and snapshots come back encoded by the
    game's codec, full then deltas, as the runtime sends them. It checks the
    client against the engine in Chromium without the server's games registry."""

    def __init__(self, config: Any) -> None:
        from engine.paddle import GAME

        self.game = GAME
        self.match = GAME.create(config, 7, False)
        self.sockets: dict[int, Any] = {}
        self.prev: dict[int, dict[str, Any] | None] = {}
        self.inputs = 0

    def route(self, person: Person, pid: int, name: str) -> None:
        import msgpack

        def handler(ws: Any) -> None:
            if pid not in self.match.player_ids():
                self.match.add_player(pid, name)
            else:
                self.match.reset_inputs(pid)
            self.sockets[pid] = ws
            self.prev[pid] = None
            ws.on_message(lambda raw: self.receive(pid, ws, raw))
            ws.send(msgpack.packb({
                "t": "welcome", "player_id": pid, "room": "engine-room", "game": "paddle",
                "tick_rate": 60, "snapshot_rate": 30, "spectator": False, "server": "test"},
                use_bin_type=True))

        person.page.route_web_socket("**/ws/game/engine-room/", handler)

    def receive(self, pid: int, ws: Any, raw: Any) -> None:
        import msgpack

        from engine.paddle import PaddleInput
        from engine.protocol import PingFrame

        frame = self.game.parse_frame(raw if isinstance(raw, bytes) else raw.encode())
        if isinstance(frame, PingFrame):
            ws.send(msgpack.packb({"t": "pong", "id": frame.id}, use_bin_type=True))
        elif isinstance(frame, PaddleInput):
            self.match.submit(pid, frame)
            self.inputs += 1

    def pump(self, page: Any, ms: int) -> None:
        """Run the match for about `ms` of wall time at 60 ticks a second."""
        import time

        import msgpack

        codec = self.game.codec
        end = time.monotonic() + ms / 1000
        while time.monotonic() < end:
            events = self.match.step()
            for ws in self.sockets.values():
                if events:
                    ws.send(msgpack.packb({"t": "events", "tick": self.match.tick,
                                           "events": [e.to_wire() for e in events]},
                                          use_bin_type=True))
            if self.match.tick % 2 == 0:
                full = self.match.snapshot()
                for pid, ws in self.sockets.items():
                    prev = self.prev[pid]
                    ws.send(codec.encode(full if prev is None else codec.diff(prev, full)))
                    self.prev[pid] = full
            page.wait_for_timeout(1000 / 60)

    def until(self, person: Person, condition: str, seconds: float) -> None:
        script = f"(() => {{ const a = window.__arena; return {condition}; }})()"
        for _ in range(int(seconds * 10)):
            if person.page.evaluate(script):
                return
            self.pump(person.page, 100)
        raise AssertionError(f"{person.tag}: {condition} never held; {person.dump()}")


def test_paddle_pages_against_the_engine(browser: Any, daphne_server: LiveServer) -> None:
    """Two pages play the paddle engine through faked sockets: welcome.game loads
    games/paddle.js, keys become `dir` inputs the engine accepts, one page's
    paddle moves on the other page, a point and the end screen show on both."""
    from engine.paddle import PaddleConfig

    # The first serve comes late enough for the movement check; the first point ends it.
    engine = EngineSocket(PaddleConfig(countdown_s=0.5, score_limit=1, serve_delay_s=2.0))
    ann = Person(browser, daphne_server, "engine-ann")
    ben = Person(browser, daphne_server, "engine-ben")
    ann.login("ann")
    ben.login("ben")
    engine.route(ann, 1, "ann")
    engine.route(ben, 2, "ben")
    ann.goto("/play/engine-room/")
    ben.goto("/play/engine-room/")
    engine.until(ann, "a && a.game === 'paddle' && a.own !== null && '2' in a.others", 10)
    engine.until(ben, "a && a.game === 'paddle' && a.own !== null && '1' in a.others", 10)
    assert ann.page.inner_text("#game-name") == "Paddle"
    assert "W / S" in ann.page.inner_text("#controls-list")
    engine.until(ann, "a.phase === 'playing'", 10)
    engine.pump(ann.page, 300)
    y0 = ben.arena("others['1'].y")
    ann.page.keyboard.down("ArrowDown")
    engine.until(ben, f"a.others['1'].y - ({y0}) > 2000", 10)
    ann.page.keyboard.up("ArrowDown")
    assert engine.inputs > 20
    engine.until(ann, "Math.abs(a.own.y - a.ownServer.y) < 1 && a.ack !== null && a.ack >= 0", 5)
    ann.shot("moved")
    # score_limit 1: the first miss ends the match; both pages show the end.
    engine.until(ann, "a.phase === 'ended'", 30)
    engine.until(ben, "a.phase === 'ended'", 2)
    scored = "a.scoreboard.rows.some(r => r.cells[a.scoreboard.columns.indexOf('Score')] === 1)"
    engine.until(ann, scored, 2)
    engine.until(ben, scored, 2)
    ann.page.wait_for_selector("#feed li:has-text('Winner:')")
    ben.shot("ended")
    ann.close()
    ben.close()
