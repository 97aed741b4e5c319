import { test } from "node:test";
import assert from "node:assert/strict";
import { loadGame, gameIdOf, knownGames, UnknownGameError, DEFAULT_GAME } from "../static/client/js/games/index.js";

test("welcome.game names the module; a server without it means the arena", () => {
  assert.equal(gameIdOf({ t: "welcome", game: "paddle" }), "paddle");
  assert.equal(gameIdOf({ t: "welcome" }), DEFAULT_GAME);
  assert.equal(gameIdOf({ t: "welcome", game: null }), "arena");
  assert.deepEqual(knownGames(), ["arena", "paddle"]);
});

test("known ids load their plug-in", async () => {
  const arena = await loadGame("arena");
  const paddle = await loadGame("paddle");
  assert.equal(arena.id, "arena");
  assert.equal(paddle.id, "paddle");
  assert.equal(paddle.defaults.tick_rate, 60);
});

test("anything else is refused, never turned into a module URL", async () => {
  for (const id of ["chess", "", "../sdk/session", "./arena.js", "https://evil.example/x.js", "__proto__", "constructor", "toString", 7, null, { id: "arena" }]) {
    await assert.rejects(loadGame(id), (err) => err instanceof UnknownGameError, String(id));
  }
  const err = await loadGame("<img src=x>").catch((e) => e);
  assert.match(err.message, /cannot play the game/);
});
