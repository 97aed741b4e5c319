/**
 * The SDK with a fake game plug-in: a 1-D "slider" whose own state is
 * {p, v}, one input field `dx`, a schema with one collection. Nothing of the
 * arena or the paddle game is involved.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { GameSession, SEQ_MARGIN, snapshotApplier } from "../static/client/js/sdk/session.js";
import { Predictor } from "../static/client/js/sdk/prediction.js";
import { defineSchema } from "../static/client/js/sdk/schema.js";
import { entitiesBetween, lerp } from "../static/client/js/sdk/interpolation.js";
import { checkPlugin } from "../static/client/js/sdk/plugin.js";
import { NetGraph } from "../static/client/js/sdk/netgraph.js";

const calls = { predict: 0, resume: 0 };

const slider = {
  id: "slider",
  name: "Slider",
  defaults: { tick_rate: 10, snapshot_rate: 5, speed: 2 },
  schema: defineSchema({ collections: [{ name: "s", movable: 1 }], scalars: ["phase", "phase_ends"], static: ["track"] }),
  configFromSnapshot: (config, full) => (full.track ? { ...config, track: full.track } : config),
  keys: ["KeyA", "KeyD"],
  controls: [["A / D", "slide"]],
  canvasLabel: "slider",
  input: (controls) => ({ dx: (controls.keys.has("KeyD") ? 1 : 0) - (controls.keys.has("KeyA") ? 1 : 0) }),
  ownState: (full, id) => (full.s[id] ? { p: full.s[id][0], v: 0 } : null),
  resume(server, acked) {
    calls.resume++;
    return { ...server, v: acked ? acked.v : 0 };
  },
  predict(own, input, config) {
    calls.predict++;
    return { p: own.p + input.dx * config.speed, v: input.dx };
  },
  ownPosition: (own) => ({ x: own.p, y: 0 }),
  snapDistance: 50,
  interpolate: (pair) => ({ players: entitiesBetween(pair, "s", (id, arr) => ({ x: arr[0], y: 0, name: arr[1] }), (v, a, b, t) => { v.x = lerp(a[0], b[0], t); }) }),
  size: () => ({ w: 100, h: 10 }),
  render: () => {},
  scoreboard: (full) => ({ columns: ["P"], rows: Object.entries(full.s).map(([id, a]) => ({ id: Number(id), name: a[1], cells: [a[0]] })) }),
};

const full = (tick, p, ack = -1) => ({ t: "snap", tick, acks: { 3: ack }, full: true, phase: "playing", phase_ends: tick + 20, track: [100], s: { 3: [p, "me"], 4: [50, "other"] } });

function joined(opts = {}) {
  const s = new GameSession(slider, opts);
  s.handleFrame({ t: "welcome", player_id: 3, room: "r", game: "slider", tick_rate: 20, snapshot_rate: 10, spectator: false, config: { speed: 3 } }, 0);
  s.handleFrame(full(10, 20), 5, 100);
  return s;
}

test("the fake plug-in passes the interface check; a broken one is named", () => {
  assert.equal(checkPlugin(slider), slider);
  assert.throws(() => checkPlugin({ ...slider, predict: undefined }), /slider lacks predict/);
  assert.throws(() => checkPlugin({ ...slider, schema: undefined }), /schema or applySnapshot/);
  assert.throws(() => checkPlugin(null), /object/);
});

test("welcome: rates and config over the game's defaults; a full snapshot's static keys reach the config", () => {
  const s = joined();
  assert.deepEqual([s.config.tick_rate, s.config.snapshot_rate, s.config.speed, s.config.track], [20, 10, 3, [100]]);
  assert.equal(s.gameId, "slider");
  assert.equal(s.interp.tickMs, 50);
  assert.equal(s.predictor.config, s.config);
});

test("inputs carry the game's fields and seq (no tick without lag compensation) and are predicted", () => {
  const s = joined();
  assert.equal(s.seq, SEQ_MARGIN);
  const a = s.nextInput({ dx: 1 }, 7.5);
  assert.deepEqual(a, { t: "input", seq: SEQ_MARGIN, dx: 1 });
  s.nextInput({ dx: 1 });
  assert.deepEqual(s.predictor.state, { p: 26, v: 1 });
  assert.equal(s.predictor.pending.length, 2);
  const lagged = new GameSession({ ...slider, lagCompensation: true });
  lagged.handleFrame({ t: "welcome", player_id: 3, room: "r" }, 0);
  lagged.handleFrame(full(10, 20), 0);
  assert.equal(lagged.nextInput({ dx: 0 }, 7.5).tick, 7);
});

test("reconcile: acked inputs dropped, replay from the server state through resume and predict", () => {
  const s = joined();
  const first = s.nextInput({ dx: 1 }).seq; // p 23
  s.nextInput({ dx: 1 }); // 26
  s.nextInput({ dx: -1 }); // 23
  // The server applied the first input and was pushed 4 further: 27, then replay +3 -3.
  s.handleFrame({ t: "snap", tick: 11, acks: { 3: first }, full: false, s: { m: { 3: [7] } } }, 50);
  assert.deepEqual(s.predictor.pending.map((e) => e.seq), [first + 1, first + 2]);
  assert.deepEqual(s.predictor.state, { p: 27, v: -1 });
  assert.equal(s.predictor.lastCorrection, 4);
  // The correction is smoothed: drawn where it was, then the offset decays.
  assert.equal(s.predictor.renderPosition({ dx: 0 }, 0, 0).x, 23);
  for (let i = 0; i < 80; i++) s.predictor.renderPosition({ dx: 0 }, 0, 16);
  assert.ok(Math.abs(s.predictor.renderPosition({ dx: 0 }, 0, 16).x - 27) < 0.01);
});

test("renderPosition leans toward the next step under the current input", () => {
  const s = joined();
  assert.equal(s.predictor.renderPosition({ dx: 0 }, 0.5, 0).x, 20);
  assert.equal(s.predictor.renderPosition({ dx: 1 }, 0.5, 0).x, 21.5);
});

test("corrections over snapDistance, or a state marked reset, are not smoothed", () => {
  const p = new Predictor(slider, { speed: 1 });
  p.reconcile({ p: 0, v: 0 }, -1);
  p.reconcile({ p: 80, v: 0 }, -1);
  assert.equal(p.renderPosition({ dx: 0 }, 0, 0).x, 80);
  p.reconcile({ p: 90, v: 0, reset: true }, -1);
  assert.equal(p.renderPosition({ dx: 0 }, 0, 0).x, 90);
  p.reconcile({ p: 95, v: 0 }, -1);
  assert.equal(p.renderPosition({ dx: 0 }, 0, 0).x, 90); // 5 < 50: smoothed
});

test("spectators never send; a reconnect waits for a full snapshot and keeps seq rising", () => {
  const watcher = new GameSession(slider, { spectate: true });
  watcher.handleFrame({ t: "welcome", player_id: 3, room: "r", spectator: true }, 0);
  watcher.handleFrame(full(1, 0), 0);
  assert.equal(watcher.canSendInput(), false);
  const s = joined();
  s.nextInput({ dx: 1 });
  const seq = s.seq;
  s.resetConnection();
  assert.equal(s.canSendInput(), false);
  s.handleFrame({ t: "snap", tick: 12, acks: {}, full: false }, 60); // no base: skipped
  assert.equal(s.full, null);
  s.handleFrame(full(300, 40, seq - 1), 70);
  assert.ok(s.seq >= seq && s.canSendInput());
  assert.equal(s.predictor.state.p, 40);
});

test("scoreboard, phase timer, server position and interpolation come from the plug-in", () => {
  const s = joined();
  assert.deepEqual(s.scoreboard(), { columns: ["P"], rows: [{ id: 3, name: "me", cells: [20] }, { id: 4, name: "other", cells: [50] }] });
  assert.equal(s.phaseSecondsLeft(), 1);
  assert.deepEqual(s.serverPosition(4), { x: 50, y: 0 });
  assert.equal(s.serverPosition(99), null);
  s.handleFrame({ t: "snap", tick: 12, acks: { 3: -1 }, full: false, s: { m: { 4: [10] } } }, 105);
  const view = slider.interpolate(s.interp.bracket(11), s.config);
  assert.equal(view.players[4].x, 55);
});

test("a game without a schema brings its own apply; neither is a clear error", () => {
  const own = snapshotApplier({ id: "x", applySnapshot: (f, p) => ({ ...f, seen: p }) });
  assert.deepEqual(own({ tick: 1 }, "base"), { tick: 1, seen: "base" });
  assert.throws(() => snapshotApplier({ id: "x" }), /schema or applySnapshot/);
});

test("the net graph keeps a bounded window and draws without a DOM", () => {
  const g = new NetGraph({ capacity: 3 });
  for (let i = 0; i < 5; i++) g.record({ t: i, interval: 50 * i, correction: i });
  assert.deepEqual(g.samples.map((x) => x.t), [2, 3, 4]);
  const ops = [];
  const ctx = new Proxy({}, { get: (_, k) => (typeof k === "string" && k !== "then" ? (...a) => ops.push(k) : undefined), set: () => true });
  g.draw(ctx, { w: 400, h: 300 }, { snapshotRate: 20, rate: 20, bytesPerSecond: 2048, rtt: 40, pending: 2 });
  assert.ok(ops.includes("fillRect") && ops.includes("fillText"));
  assert.equal(g.toggle(), true);
});
