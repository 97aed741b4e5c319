import { test } from "node:test";
import assert from "node:assert/strict";
import { InterpolationBuffer, lerpAngle, entitiesBetween } from "../static/client/js/sdk/interpolation.js";
import arena from "../static/client/js/games/arena.js";

/** The arena's players at a tick, through the SDK's bracket and the plug-in's interpolate. */
function playersAt(buf, tick) {
  return arena.interpolate(buf.bracket(tick), {}).players;
}

function snap(tick, x, aim = 0) {
  return { tick, players: { 2: [x * 8, 80, aim, 100, 1, 0, 0, 0, "bob"] } };
}

test("others are drawn between the two snapshots around the render tick", () => {
  const buf = new InterpolationBuffer({ tickRate: 20, delayMs: 100 });
  buf.push(snap(10, 100), 1000);
  buf.push(snap(11, 110), 1050);
  buf.push(snap(12, 120), 1100);
  // At t=1175 the newest info is tick 12 (+1.5 ticks); 100 ms back is tick 11.5.
  assert.ok(Math.abs(buf.renderTick(1175) - 11.5) < 1e-9);
  const players = playersAt(buf, 11.5);
  assert.equal(players[2].x, 115);
  assert.equal(players[2].name, "bob");
});

test("no extrapolation past the newest snapshot; oldest before the buffer", () => {
  const buf = new InterpolationBuffer({ tickRate: 20 });
  buf.push(snap(10, 100), 0);
  buf.push(snap(11, 110), 50);
  assert.equal(playersAt(buf, 20)[2].x, 110);
  assert.equal(playersAt(buf, 5)[2].x, 100);
});

test("arrival jitter moves the clock slowly; early packets pull it in", () => {
  const buf = new InterpolationBuffer({ tickRate: 20 });
  buf.push(snap(0, 0), 1000);
  const first = buf.offset;
  buf.push(snap(1, 0), 1080); // 30 ms late
  assert.ok(buf.offset - first < 1);
  buf.push(snap(2, 0), 1090); // 10 ms early
  assert.ok(buf.offset < first);
});

test("respawn jumps are not slid across the map", () => {
  const buf = new InterpolationBuffer({ tickRate: 20 });
  buf.push(snap(1, 100), 0);
  buf.push(snap(2, 1400), 50);
  assert.equal(playersAt(buf, 1.5)[2].x, 1400);
});

test("angles interpolate the short way round", () => {
  assert.equal(lerpAngle(250, 6, 0.5), 0);
  assert.equal(lerpAngle(6, 250, 0.5), 0);
  assert.equal(lerpAngle(10, 20, 0.5), 15);
});

test("capacity bounds the buffer and older ticks reset it", () => {
  const buf = new InterpolationBuffer({ tickRate: 20, capacity: 4 });
  for (let t = 0; t < 10; t++) buf.push(snap(t, t), t * 50);
  assert.equal(buf.snaps.length, 4);
  buf.push(snap(3, 0), 600);
  assert.equal(buf.snaps.length, 1);
});

test("bracket: the two states around a tick and the fraction between them", () => {
  const buf = new InterpolationBuffer({ tickRate: 20 });
  assert.equal(buf.bracket(3), null);
  buf.push({ tick: 10, e: { 1: [0] } }, 0);
  buf.push({ tick: 14, e: { 1: [40] } }, 200);
  const pair = buf.bracket(11);
  assert.deepEqual([pair.a.tick, pair.b.tick, pair.t, pair.newest.tick], [10, 14, 0.25, 14]);
  assert.deepEqual([buf.bracket(99).a.tick, buf.bracket(99).t], [14, 1]);
  assert.deepEqual([buf.bracket(2).b.tick, buf.bracket(2).t], [10, 1]);
});

test("entitiesBetween mixes entities present in both states and shows new ones from the later", () => {
  const pair = { a: { e: { 1: [0], 2: [5] } }, b: { e: { 1: [40], 3: [7] } }, t: 0.25 };
  const out = entitiesBetween(pair, "e", (id, arr) => ({ id, v: arr[0] }), (view, a, b, t) => {
    view.v = a[0] + (b[0] - a[0]) * t;
  });
  assert.deepEqual(out, { 1: { id: "1", v: 10 }, 3: { id: "3", v: 7 } });
  assert.deepEqual(entitiesBetween(null, "e", () => 1), {});
});
