import { test } from "node:test";
import assert from "node:assert/strict";
import { loadGame, gameIdOf, knownGames, offeredGames, UnknownGameError, DEFAULT_GAME } from "../static/client/js/games/index.js";

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

/** A stand-in for import(): records the specifier, returns a module whose plug-in has `id`. */
function fakeImport(calls, id) {
  return async (specifier) => {
    calls.push(specifier);
    const paddle = (await import("../static/client/js/games/paddle.js")).default;
    return { default: { ...paddle, id } };
  };
}

test("an id the server offers (a slug) loads ./<id>.js from the games directory", async () => {
  const calls = [];
  const game = await loadGame("dots", { offered: ["arena", "paddle", "dots"], importModule: fakeImport(calls, "dots") });
  assert.equal(game.id, "dots");
  assert.deepEqual(calls, ["./dots.js"]);
  // The fixed map wins for its own ids; the import stand-in is not used.
  const paddle = await loadGame("paddle", { offered: ["paddle"], importModule: fakeImport(calls, "x") });
  assert.equal(paddle.id, "paddle");
  assert.deepEqual(calls, ["./dots.js"]);
});

test("an offered id whose module declares another id, or is no plug-in, is refused", async () => {
  await assert.rejects(loadGame("dots", { offered: ["dots"], importModule: fakeImport([], "other") }), /declares id other/);
  await assert.rejects(loadGame("dots", { offered: ["dots"], importModule: async () => ({ default: { id: "dots" } }) }), /lacks/);
});

test("an id not offered, or offered but not a slug, is refused without importing", async () => {
  const calls = [];
  const offered = ["dots", "../sdk/session", "Dots", "a-b", "x".repeat(33), "https://evil.example/x", "", "__proto__"];
  for (const id of ["chess", "../sdk/session", "Dots", "a-b", "x".repeat(33), "https://evil.example/x", "", "dots.js", "dots/", " dots", 7, null]) {
    await assert.rejects(loadGame(id, { offered, importModule: fakeImport(calls, String(id)) }),
      (err) => err instanceof UnknownGameError, String(id));
  }
  await assert.rejects(loadGame("dots", { offered: [], importModule: fakeImport(calls, "dots") }), UnknownGameError);
  await assert.rejects(loadGame("dots", { offered: "dots", importModule: fakeImport(calls, "dots") }), UnknownGameError);
  assert.deepEqual(calls, []);
});

test("the offered list is read from the page's offered-games JSON, keeping only slugs", () => {
  const page = (text) => ({ getElementById: (id) => (id === "offered-games" ? { textContent: text } : null) });
  assert.deepEqual(offeredGames(page('["arena", "dots", "../x", "Big", 3]')), ["arena", "dots"]);
  assert.deepEqual(offeredGames(page("{}")), []);
  assert.deepEqual(offeredGames(page("not json")), []);
  assert.deepEqual(offeredGames({ getElementById: () => null }), []);
  assert.deepEqual(offeredGames(undefined), []);
});
