import { test } from "node:test";
import assert from "node:assert/strict";
import { derive, movePlayer, DEFAULT_CONFIG } from "../static/client/js/games/arena/physics.js";
import { Predictor } from "../static/client/js/sdk/prediction.js";
import arena from "../static/client/js/games/arena.js";

const config = { ...DEFAULT_CONFIG, walls: [] };
const d = derive(config);

function server(x, y, alive = true, canMove = true) {
  return { x, y, vx: 0, vy: 0, alive, boosted: false, canMove };
}

function predictor() {
  return new Predictor(arena, config);
}

const pos = (s) => ({ x: s.x, y: s.y, vx: s.vx, vy: s.vy });

test("inputs move the own player at once, before any ack", () => {
  const p = predictor();
  p.reconcile(server(400, 300), -1);
  p.applyInput({ seq: 0, mx: 1, my: 0 });
  assert.equal(p.state.x, 405);
  assert.equal(p.pending.length, 1);
});

test("a server that agrees leaves the prediction untouched", () => {
  const p = predictor();
  p.reconcile(server(400, 300), -1);
  let truth = { x: 400, y: 300, vx: 0, vy: 0 };
  const inputs = [];
  for (let seq = 0; seq < 10; seq++) {
    const input = { seq, mx: seq % 3 === 0 ? 0 : 1, my: 0.5 };
    inputs.push(input);
    p.applyInput(input);
  }
  // The server has applied the first 6.
  for (const i of inputs.slice(0, 6)) truth = movePlayer(truth, i, false, d);
  const before = { ...p.state };
  const error = p.reconcile(server(truth.x, truth.y), 5);
  assert.ok(error < 1e-9, `error ${error}`);
  assert.ok(Math.abs(p.state.x - before.x) < 1e-9 && Math.abs(p.state.y - before.y) < 1e-9);
  assert.deepEqual(p.pending.map((e) => e.seq), [6, 7, 8, 9]);
});

test("a correction restarts from the server position and replays unacked inputs", () => {
  const p = predictor();
  p.reconcile(server(400, 300), -1);
  for (let seq = 0; seq < 4; seq++) p.applyInput({ seq, mx: 1, my: 0 });
  // Server says: after seq 1 the player is 10 units further up (e.g. pushed).
  let expected = { x: 400 + 5 + 15, y: 290, vx: 200, vy: 0 };
  p.reconcile(server(expected.x, expected.y), 1);
  for (let seq = 2; seq < 4; seq++) expected = movePlayer(expected, { mx: 1, my: 0 }, false, d);
  assert.ok(Math.abs(p.state.x - expected.x) < 1e-9);
  assert.ok(Math.abs(p.state.y - expected.y) < 1e-9);
  assert.ok(p.lastCorrection > 9);
  // The visible position does not jump: the offset absorbs the correction, then decays.
  const shown = p.renderPosition({ mx: 0, my: 0 }, 0, 0);
  assert.ok(Math.abs(shown.y - 300) < 1e-6);
  for (let i = 0; i < 60; i++) p.renderPosition({ mx: 0, my: 0 }, 0, 16);
  assert.ok(Math.abs(p.renderPosition({ mx: 0, my: 0 }, 0, 16).y - expected.y) < 0.05);
});

test("dead players do not move; a respawn snaps without smoothing", () => {
  const p = predictor();
  p.reconcile(server(400, 300, false), -1);
  p.applyInput({ seq: 0, mx: 1, my: 0 });
  assert.equal(p.state.x, 400);
  p.reconcile(server(100, 100), 0);
  assert.deepEqual(pos(p.state), { x: 100, y: 100, vx: 0, vy: 0 });
  assert.deepEqual(p.renderPosition({ mx: 0, my: 0 }, 0, 0), { x: 100, y: 100 });
});

test("the rendered position leans into the next step within the same frame", () => {
  const p = predictor();
  p.reconcile(server(400, 300), -1);
  const still = p.renderPosition({ mx: 0, my: 0 }, 0.1, 16);
  const pressed = p.renderPosition({ mx: 1, my: 0 }, 0.1, 16);
  assert.equal(still.x, 400);
  assert.ok(pressed.x > 400);
});

test("the ended phase freezes movement like the engine", () => {
  const p = predictor();
  p.reconcile(server(400, 300, true, false), -1);
  p.applyInput({ seq: 0, mx: 1, my: 0 });
  assert.equal(p.state.x, 400);
});
