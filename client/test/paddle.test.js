import { test } from "node:test";
import assert from "node:assert/strict";
import paddle, { DEFAULTS, SCHEMA, paddleStep, paddlePoint, standings } from "../static/client/js/games/paddle.js";
import { GameSession } from "../static/client/js/sdk/session.js";
import { decodeFrame } from "../static/client/js/sdk/frames.js";
import { applyDelta } from "../static/client/js/sdk/schema.js";
import { checkPlugin } from "../static/client/js/sdk/plugin.js";

const full = (tick, extra = {}) => ({
  t: "snap", tick, acks: { 1: -1, 2: -1 }, full: true, phase: "playing", phase_ends: tick + 600, serve_at: 0,
  court: [16000, 3200, 160],
  paddles: { 1: [8000, 0, 2, 1, "ann"], 2: [8000, 1, 3, 0, "bob"] },
  balls: { 1: [8000, 8000, 120, -40] },
  ...extra,
});

function joined(id = 1, snap = full(100)) {
  const s = new GameSession(paddle);
  s.handleFrame({ t: "welcome", player_id: id, room: "r", game: "paddle", tick_rate: 60, snapshot_rate: 30 }, 0);
  s.handleFrame(snap, 1);
  return s;
}

/** msgpack as Python's msgpack writes snapshots: object keys made of digits become integer keys. */
function packIntKeys(value) {
  const out = [];
  const str = (s) => {
    const b = Buffer.from(s, "utf8");
    if (b.length < 32) out.push(0xa0 | b.length);
    else out.push(0xd9, b.length);
    out.push(...b);
  };
  const int = (n) => {
    if (n >= 0 && n < 128) out.push(n);
    else if (n < 0 && n >= -32) out.push(n & 0xff);
    else out.push(0xd2, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  };
  const walk = (v) => {
    if (v === null) out.push(0xc0);
    else if (v === true || v === false) out.push(v ? 0xc3 : 0xc2);
    else if (typeof v === "number") int(v);
    else if (typeof v === "string") str(v);
    else if (Array.isArray(v)) {
      out.push(0x90 | v.length);
      v.forEach(walk);
    } else {
      const entries = Object.entries(v);
      out.push(0x80 | entries.length);
      for (const [k, x] of entries) {
        if (/^[0-9]+$/.test(k)) int(Number(k));
        else str(k);
        walk(x);
      }
    }
  };
  walk(value);
  return new Uint8Array(out);
}

const keys = (...codes) => ({ keys: new Set(codes), pointer: null, pointerDown: false, frameMs: 16 });

test("the paddle module implements the plug-in interface", () => {
  assert.equal(checkPlugin(paddle).id, "paddle");
  assert.deepEqual(SCHEMA.collections.map((c) => [c.name, c.movable]), [["paddles", 1], ["balls", 2]]);
  assert.deepEqual(SCHEMA.scalars, ["phase", "phase_ends", "serve_at"]);
  assert.deepEqual(SCHEMA.static, ["court"]);
});

test("engine-shaped msgpack (integer keys) decodes and deltas apply by the schema", () => {
  // A delta as Python's msgpack writes it: integer ids, paddle 1 moved -240, ball 1 moved, serve_at changed.
  const bytes = packIntKeys({ t: "snap", tick: 102, acks: { 1: 5, 2: -1 }, full: false, serve_at: 160,
    paddles: { m: { 1: [-240] }, c: { 2: { 2: 4 } } },
    balls: { r: [1], a: { 2: [8000, 8000, 0, 120] } } });
  const frame = decodeFrame(bytes);
  const out = applyDelta(SCHEMA, frame, full(100));
  assert.deepEqual(out.paddles, { 1: [7760, 0, 2, 1, "ann"], 2: [8000, 1, 4, 0, "bob"] });
  assert.deepEqual(out.balls, { 2: [8000, 8000, 0, 120] });
  assert.deepEqual([out.tick, out.serve_at, out.acks[1], out.court], [102, 160, 5, [16000, 3200, 160]]);
});

test("keys map to dir by side: W/S or Up/Down for left and right, A/D or Left/Right for top and bottom", () => {
  const left = { side: 0 };
  const top = { side: 2 };
  assert.deepEqual(paddle.input(keys("KeyW"), null, left), { dir: -1 });
  assert.deepEqual(paddle.input(keys("ArrowDown"), null, left), { dir: 1 });
  assert.deepEqual(paddle.input(keys("ArrowLeft"), null, left), { dir: 0 });
  assert.deepEqual(paddle.input(keys("KeyW", "KeyS"), null, left), { dir: 0 });
  assert.deepEqual(paddle.input(keys("KeyS", "ArrowDown"), null, left), { dir: 1 }); // clamped
  assert.deepEqual(paddle.input(keys("KeyD"), null, top), { dir: 1 });
  assert.deepEqual(paddle.input(keys("ArrowLeft"), null, { side: 3 }), { dir: -1 });
  assert.deepEqual(paddle.input(keys("ArrowUp"), null, top), { dir: 0 });
});

test("prediction slides the paddle by the engine's step and stops at the ends", () => {
  assert.equal(paddleStep(DEFAULTS), 240);
  const s = joined();
  const own = s.predictor.state;
  assert.deepEqual([own.pos, own.side, own.lo, own.hi], [8000, 0, 1600, 14400]);
  s.nextInput({ dir: 1 });
  s.nextInput({ dir: 1 });
  assert.equal(s.predictor.state.pos, 8480);
  let st = { ...own, pos: 14300 };
  st = paddle.predict(st, { dir: 1 }, s.config);
  assert.equal(st.pos, 14400);
  assert.equal(paddle.predict({ ...own, pos: 1700 }, { dir: -1 }, s.config).pos, 1600);
  assert.deepEqual(paddle.ownPosition(s.predictor.state), { x: 0, y: 8480 });
});

test("no movement in the ended phase; the acked state replays like the server", () => {
  const s = joined(2, full(100, { phase: "ended" }));
  s.nextInput({ dir: 1 });
  assert.equal(s.predictor.state.pos, 8000);
  const t = joined(2);
  const a = t.nextInput({ dir: -1 }).seq;
  t.nextInput({ dir: -1 });
  t.handleFrame({ t: "snap", tick: 102, acks: { 1: -1, 2: a }, full: false, paddles: { m: { 2: [-240] } } }, 30);
  assert.equal(t.predictor.state.pos, 7520);
  assert.equal(t.predictor.lastCorrection, 0);
  assert.deepEqual(paddle.ownPosition(t.predictor.state), { x: 16000, y: 7520 });
});

test("the court from the full snapshot sets the config", () => {
  const s = joined(1, full(5, { court: [8000, 1000, 50] }));
  assert.deepEqual([s.config.court_size, s.config.paddle_length, s.config.ball_radius, s.config.tick_rate], [8000, 1000, 50, 60]);
  assert.deepEqual(paddle.size(s.config), { w: 8000, h: 8000 });
  assert.equal(s.predictor.state.hi, 7500);
});

test("interpolation: paddles and balls between snapshots; players carry x, y and name", () => {
  const s = joined(1, full(100));
  s.handleFrame({ t: "snap", tick: 102, acks: {}, full: false, paddles: { m: { 2: [400] } }, balls: { m: { 1: [240, -80] } } }, 34);
  const view = paddle.interpolate(s.interp.bracket(101), s.config);
  assert.deepEqual(view.players[2], { id: 2, pos: 8200, side: 1, score: 3, misses: 0, name: "bob", x: 16000, y: 8200 });
  assert.deepEqual(view.balls[1], { id: 1, x: 8120, y: 7960 });
  assert.deepEqual(paddlePoint(2, 500, 16000), { x: 500, y: 0 });
  assert.deepEqual(paddlePoint(3, 500, 16000), { x: 500, y: 16000 });
});

test("scoreboard and standings follow the engine's order: score desc, misses asc, id asc", () => {
  const snap = full(1, { paddles: { 1: [0, 0, 2, 1, "ann"], 2: [0, 1, 3, 0, "bob"], 3: [0, 2, 2, 0, "cy"], 4: [0, 3, 2, 0, "<b>d</b>"] } });
  assert.deepEqual(standings(snap).map((r) => r.id), [2, 3, 4, 1]);
  const board = paddle.scoreboard(snap);
  assert.deepEqual(board.columns, ["Side", "Score", "Misses"]);
  assert.deepEqual(board.rows[0], { id: 2, name: "bob", cells: ["right", 3, 0] });
  assert.equal(board.rows[2].name, "<b>d</b>"); // data stays data: the page writes it as text
});

test("feed lines for scores and the match end", () => {
  const snap = full(1);
  assert.equal(paddle.describeEvent({ kind: "score", player: 2, scorers: [1] }, snap), "bob missed the ball");
  assert.equal(paddle.describeEvent({ kind: "match_end", results: [{ name: "ann", score: 7 }] }, snap), "Winner: ann (7)");
  assert.equal(paddle.describeEvent({ kind: "hit", player: 1 }, snap), "");
});

test("render draws the court, paddles, ball and the end screen with text only through fillText", () => {
  const texts = [];
  const ops = new Set();
  const ctx = new Proxy({}, {
    get: (_, k) => (k === "fillText" ? (t) => texts.push(t) : (...a) => ops.add(k)),
    set: () => true,
  });
  const s = joined(1, full(100, { phase: "ended" }));
  const view = paddle.interpolate(s.interp.bracket(100), s.config);
  paddle.render(ctx, { view, own: { x: 0, y: 8000 }, ownState: s.predictor.state, input: { dir: 0 }, full: s.full, me: 1, tick: 100, scale: 0.04, config: s.config, results: [{ place: 1, name: "bob", score: 3, misses: 0 }] });
  assert.ok(ops.has("fillRect") && ops.has("arc"));
  assert.ok(texts.includes("Match over: bob wins"), texts);
  assert.ok(texts.some((t) => t.startsWith("1. bob: 3")), texts);
  assert.ok(texts.includes("ann 2") && texts.includes("bob 3"), texts);
});
