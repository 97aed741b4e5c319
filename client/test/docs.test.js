/** The skeleton game module in docs/client.md is a working plug-in on the SDK. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { checkPlugin } from "../static/client/js/sdk/plugin.js";
import { GameSession } from "../static/client/js/sdk/session.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const SDK = pathToFileURL(join(here, "../static/client/js/sdk/")).href;

test("the documented skeleton module implements the interface and plays on the SDK", async () => {
  const doc = await readFile(join(here, "../../docs/client.md"), "utf8");
  const block = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('id: "slide"'));
  assert.ok(block, "docs/client.md has the skeleton");
  const dir = await mkdtemp(join(tmpdir(), "skeleton-"));
  try {
    const file = join(dir, "slide.mjs");
    await writeFile(file, block.replaceAll('"../sdk/', `"${SDK}`));
    const { default: game } = await import(pathToFileURL(file).href);
    checkPlugin(game);
    const s = new GameSession(game);
    s.handleFrame({ t: "welcome", player_id: 1, room: "r", game: "slide", tick_rate: 30, snapshot_rate: 15 }, 0);
    s.handleFrame({ t: "snap", tick: 1, acks: { 1: -1 }, full: true, phase: "playing", phase_ends: 0, tokens: { 1: [10, 0, "a"] } }, 1);
    const frame = s.nextInput(game.input({ keys: new Set(["ArrowRight"]), pointer: null, pointerDown: false, frameMs: 0 }));
    assert.deepEqual(frame, { t: "input", seq: 64, dx: 1 });
    assert.deepEqual(s.predictor.state, { pos: 14 });
    assert.deepEqual(s.scoreboard().rows, [{ id: 1, name: "a", cells: [0] }]);
    assert.equal(game.interpolate(s.interp.bracket(1), s.config).players[1].x, 10);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
