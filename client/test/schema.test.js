import { test } from "node:test";
import assert from "node:assert/strict";
import { defineSchema, applyDelta, copyFull, floorMod } from "../static/client/js/sdk/schema.js";

const SCHEMA = defineSchema({
  collections: [{ name: "e", movable: 2, wrap: 1, modulus: 256 }, { name: "f" }],
  scalars: ["phase", "serve_at"],
  static: ["court"],
});

const base = () => ({
  t: "snap", tick: 1, acks: { 1: 3 }, full: true, phase: "waiting", serve_at: 0, court: [100, [1, 2]],
  e: { 1: [10, 250, "a"], 2: [0, 0, "b"] }, f: { 9: [1] },
});

test("a schema refuses what the Python SnapshotSchema refuses", () => {
  assert.throws(() => defineSchema({ collections: [{ name: "e", movable: 1, wrap: 1, modulus: 256 }] }), /wrap/);
  assert.throws(() => defineSchema({ collections: [{ name: "e", movable: -1 }] }), /movable/);
  assert.throws(() => defineSchema({ collections: [{ name: "e" }, { name: "e" }] }), /unique/);
  assert.throws(() => defineSchema({ collections: [{ name: "tick" }] }), /unique/);
  assert.deepEqual(defineSchema({ collections: [] }).scalars, ["phase", "phase_ends"]);
});

test("a full snapshot replaces the state as a deep copy", () => {
  const full = base();
  const out = applyDelta(SCHEMA, full, { tick: 0 });
  assert.deepEqual(out, full);
  out.e[1][0] = 99;
  out.court[1][0] = 99;
  assert.equal(full.e[1][0], 10);
  assert.equal(full.court[1][0], 1);
});

test("a delta applies r, m (with the wrapped field), c and a; scalars only when present", () => {
  const prev = base();
  const delta = {
    t: "snap", tick: 2, acks: { 1: 4 }, full: false, serve_at: 30,
    e: { r: [2], m: { 1: [5, 10] }, c: { 1: { 2: "z" } }, a: { 3: [1, 2, "c"] } },
    f: { m: { 9: [2] } },
  };
  const out = applyDelta(SCHEMA, delta, prev);
  assert.deepEqual(out.e, { 1: [15, 4, "z"], 3: [1, 2, "c"] }); // 250 + 10 wraps to 4
  assert.deepEqual(out.f, { 9: [3] });
  assert.deepEqual([out.tick, out.acks, out.phase, out.serve_at, out.court], [2, { 1: 4 }, "waiting", 30, [100, [1, 2]]]);
  assert.deepEqual(prev, base()); // never mutated
  assert.deepEqual(delta.e.a[3], [1, 2, "c"]);
});

test("the wrapped field takes a floor modulo like Python's %", () => {
  const out = applyDelta(SCHEMA, { t: "snap", tick: 2, acks: {}, full: false, e: { m: { 2: [0, -3] } } }, base());
  assert.equal(out.e[2][1], 253);
  assert.equal(floorMod(-1, 256), 255);
});

test("deltas naming unknown entities, or without a base, throw", () => {
  assert.throws(() => applyDelta(SCHEMA, { t: "snap", tick: 2, acks: {}, full: false }, null));
  assert.throws(() => applyDelta(SCHEMA, { t: "snap", tick: 2, acks: {}, full: false, e: { m: { 7: [1] } } }, base()));
  assert.throws(() => applyDelta(SCHEMA, { t: "snap", tick: 2, acks: {}, full: false, e: { c: { 7: { 0: 1 } } } }, base()));
  // Removing an unknown id is fine (Python's pop(eid, None)).
  assert.doesNotThrow(() => applyDelta(SCHEMA, { t: "snap", tick: 2, acks: {}, full: false, e: { r: [77] } }, base()));
});

test("copyFull copies entity arrays and static keys only when present", () => {
  const snap = { tick: 1, acks: {}, e: { 1: [1, 2] } };
  const out = copyFull(SCHEMA, snap);
  assert.deepEqual(out, { tick: 1, acks: {}, e: { 1: [1, 2] }, f: {} });
  assert.ok(!("court" in out));
});
