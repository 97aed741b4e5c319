import { test } from "node:test";
import assert from "node:assert/strict";
import { derive, movePlayer, configWithMap, DEFAULT_CONFIG } from "../static/client/js/games/arena/physics.js";

const d = derive({ walls: [] });

test("velocity approaches the stick at accel and is capped at max speed", () => {
  let s = { x: 400, y: 300, vx: 0, vy: 0 };
  s = movePlayer(s, { mx: 1, my: 0 }, false, d);
  assert.equal(s.vx, 100); // 2000 u/s^2 * 0.05 s
  assert.equal(s.x, 405);
  for (let i = 0; i < 10; i++) s = movePlayer(s, { mx: 1, my: 1 }, false, d);
  assert.ok(Math.abs(Math.hypot(s.vx, s.vy) - 250) < 1e-9);
});

test("a stick longer than 1 is normalised; boost raises the cap", () => {
  let s = { x: 400, y: 300, vx: 0, vy: 0 };
  for (let i = 0; i < 20; i++) s = movePlayer(s, { mx: 1, my: 1 }, true, d);
  assert.ok(Math.abs(Math.hypot(s.vx, s.vy) - 375) < 1e-9);
});

test("friction brings a released stick to standstill", () => {
  let s = { x: 400, y: 300, vx: 250, vy: 0 };
  s = movePlayer(s, { mx: 0, my: 0 }, false, d);
  assert.equal(s.vx, 175);
  for (let i = 0; i < 5; i++) s = movePlayer(s, { mx: 0, my: 0 }, false, d);
  assert.equal(s.vx, 0);
});

test("map bounds and walls stop the player per axis", () => {
  let s = { x: 20, y: 500, vx: -250, vy: 0 };
  s = movePlayer(s, { mx: -1, my: 0 }, false, d);
  assert.deepEqual([s.x, s.vx], [16, 0]);
  const walled = derive({ walls: [[700, 400, 200, 200]] });
  // Walking right into the wall's left face (inflated by the radius 16).
  let w = { x: 680, y: 500, vx: 250, vy: 0 };
  w = movePlayer(w, { mx: 1, my: 0 }, false, walled);
  assert.deepEqual([w.x, w.vx], [684, 0]);
  // Sliding along it: the y motion still happens.
  w = movePlayer({ x: 684, y: 500, vx: 0, vy: 100 }, { mx: 1, my: 1 }, false, walled);
  assert.equal(w.x, 684);
  assert.ok(w.y > 500);
});

test("the snapshot map overrides walls and size", () => {
  const c = configWithMap(DEFAULT_CONFIG, [800, 600, [[1, 2, 3, 4]]]);
  assert.equal(c.map_width, 800);
  assert.deepEqual(c.walls, [[1, 2, 3, 4]]);
  assert.equal(configWithMap(DEFAULT_CONFIG, null), DEFAULT_CONFIG);
});
