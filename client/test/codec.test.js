import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  applySnapshot, decodeFrame, roundHalfEven, qAim, qPos, unqAim, projectileAt, playerView, copyFull,
} from "../static/client/js/games/arena/codec.js";

const base = () => ({
  t: "snap", tick: 10, acks: { 1: 4, 2: -1 }, full: true, phase: "waiting", phase_ends: 0,
  map: [1600, 1000, [[700, 400, 200, 200]]],
  players: { 1: [800, 800, 0, 100, 1, 0, 0, 0, "ann"], 2: [1600, 1600, 250, 100, 1, 0, 0, 0, "bob"] },
  projectiles: { 5: [800, 800, 40, 0, 9, 1] },
  pickups: {},
});

test("round half to even like Python", () => {
  assert.equal(roundHalfEven(0.5), 0);
  assert.equal(roundHalfEven(1.5), 2);
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(-0.5) + 0, 0);
  assert.equal(roundHalfEven(-1.5), -2);
  assert.equal(roundHalfEven(2.4), 2);
  assert.equal(qPos(100.0625), 800); // 800.5 -> 800
  assert.equal(qAim(-Math.PI / 2), 192);
  assert.equal(qAim(2 * Math.PI), 0);
  assert.ok(Math.abs(unqAim(64) - Math.PI / 2) < 1e-12);
});

test("a full snapshot replaces the state as a copy", () => {
  const full = base();
  const out = applySnapshot(full, null);
  assert.deepEqual(out, full);
  out.players[1][0] = 0;
  out.map[2][0][0] = 1;
  assert.equal(full.players[1][0], 800);
  assert.equal(full.map[2][0][0], 700);
});

test("a delta applies r, m, c, a in order and never mutates its inputs", () => {
  const prev = base();
  const before = JSON.stringify(prev);
  const delta = {
    t: "snap", tick: 11, acks: { 1: 5, 2: 0 }, full: false, phase: "countdown", phase_ends: 70,
    players: { m: { 1: [8, -3], 2: [0, 0, 10] }, c: { 2: { 3: 75, 8: "bo" } }, a: { 3: [1, 2, 3, 100, 1, 0, 0, 0, "cy"] } },
    projectiles: { r: [5] },
    pickups: { a: { 9: [6400, 2400, 1] } },
  };
  const out = applySnapshot(delta, prev);
  assert.equal(JSON.stringify(prev), before);
  assert.equal(out.tick, 11);
  assert.deepEqual(out.acks, { 1: 5, 2: 0 });
  assert.equal(out.phase, "countdown");
  assert.equal(out.phase_ends, 70);
  assert.deepEqual(out.players[1], [808, 797, 0, 100, 1, 0, 0, 0, "ann"]);
  assert.deepEqual(out.players[2], [1600, 1600, 4, 75, 1, 0, 0, 0, "bo"]); // 250 + 10 wraps to 4
  assert.deepEqual(out.players[3], [1, 2, 3, 100, 1, 0, 0, 0, "cy"]);
  assert.deepEqual(out.projectiles, {});
  assert.deepEqual(out.pickups, { 9: [6400, 2400, 1] });
  assert.deepEqual(out.map, prev.map);
  assert.equal(out.full, true);
});

test("aim wraps below zero like Python's modulo", () => {
  const prev = base();
  const out = applySnapshot({ t: "snap", tick: 11, acks: {}, full: false, players: { m: { 1: [0, 0, -3] } } }, prev);
  assert.equal(out.players[1][2], 253);
});

test("phase fields absent from a delta keep their values", () => {
  const out = applySnapshot({ t: "snap", tick: 12, acks: { 1: 4 }, full: false }, base());
  assert.equal(out.phase, "waiting");
  assert.equal(out.phase_ends, 0);
  assert.deepEqual(out.acks, { 1: 4 });
});

test("a delta for an unknown entity or without a base throws", () => {
  assert.throws(() => applySnapshot({ t: "snap", tick: 1, acks: {}, full: false }, null));
  assert.throws(() => applySnapshot({ t: "snap", tick: 11, acks: {}, full: false, players: { m: { 7: [1] } } }, base()));
});

test("msgpack frames with integer keys decode into string-keyed objects", () => {
  // {"t": "snap", "acks": {1: 3}} as Python's msgpack writes it (integer key).
  const bytes = new Uint8Array([0x82, 0xa1, 0x74, 0xa4, 0x73, 0x6e, 0x61, 0x70, 0xa4, 0x61, 0x63, 0x6b, 0x73, 0x81, 0x01, 0x03]);
  const frame = decodeFrame(bytes);
  assert.equal(frame.t, "snap");
  assert.equal(frame.acks[1], 3);
  assert.throws(() => decodeFrame(encode([1, 2])));
  assert.throws(() => decodeFrame(encode({ x: 1 })));
});

test("projectiles move exactly along their spawn record", () => {
  const p = projectileAt([800, 800, 40, -8, 9, 1], 12);
  assert.deepEqual(p, { x: (800 + 120) / 8, y: (800 - 24) / 8, owner: 1 });
});

test("player view decodes flags and units", () => {
  const v = playerView("2", [808, 16, 64, 50, 3, 1, 2, 3, "x"]);
  assert.equal(v.id, 2);
  assert.equal(v.x, 101);
  assert.equal(v.y, 2);
  assert.ok(v.alive && v.boost);
  assert.equal(v.name, "x");
  assert.deepEqual(copyFull(base()), base());
});
