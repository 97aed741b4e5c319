#!/usr/bin/env node
/**
 * Runs the browser client's pure modules on data made by the Python engine,
 * for tests/client/test_client_engine_crosscheck.py. Reads one JSON request on stdin:
 *
 *   {"mode": "snapshots", "game": "arena"|"paddle", "frames": ["<base64 msgpack>", ...]}
 *       -> the full state after applying each frame in turn (the game plug-in's
 *          schema through sdk/schema.js, as the session applies it)
 *   {"mode": "moves", "config": {...}, "start": {x, y, vx, vy}, "steps": [{mx, my, boosted}]}
 *       -> the arena state after each movement step (games/arena/physics.js)
 *   {"mode": "predict", "config": {...}, "start": {...}, "inputs": [{seq, mx, my}], "acks": [[i, ack, x, y], ...]}
 *       -> the arena's predicted state after each reconcile (sdk/prediction.js + games/arena.js)
 *   {"mode": "paddle_predict", "config": {...}, "player": id, "start": full snapshot,
 *    "inputs": [{seq, dir}], "acks": [[i, ack, pos], ...]}
 *       -> the paddle's predicted state after each reconcile (sdk/prediction.js + games/paddle.js)
 *   {"mode": "defaults", "game": "arena"|"paddle"} -> the plug-in's defaults
 *   {"mode": "playback", "document": "<base64 msgpack replay document>", "seeks": [tick, ...]}
 *       -> per seek, in turn: {tick, keyframe, applied, state, scoreboard}: the state
 *          sdk/playback.js shows at that tick, how it got there, and the game's scoreboard
 *
 * and writes one JSON answer on stdout.
 */
import { decodeFrame } from "../static/client/js/sdk/frames.js";
import { snapshotApplier } from "../static/client/js/sdk/session.js";
import { Predictor } from "../static/client/js/sdk/prediction.js";
import { Playback } from "../static/client/js/sdk/playback.js";
import { decode } from "@msgpack/msgpack";
import { derive, movePlayer, DEFAULT_CONFIG } from "../static/client/js/games/arena/physics.js";
import arena from "../static/client/js/games/arena.js";
import paddle from "../static/client/js/games/paddle.js";

const GAMES = { arena, paddle };

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", (c) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

const request = JSON.parse(await readStdin());
let answer;
if (request.mode === "snapshots") {
  const apply = snapshotApplier(GAMES[request.game ?? "arena"]);
  let state = null;
  answer = request.frames.map((b64) => {
    const frame = decodeFrame(new Uint8Array(Buffer.from(b64, "base64")));
    state = apply(frame, state);
    return state;
  });
} else if (request.mode === "moves") {
  const d = derive(request.config);
  let state = request.start;
  answer = request.steps.map((s) => (state = movePlayer(state, s, Boolean(s.boosted), d)));
} else if (request.mode === "predict") {
  const p = new Predictor(arena, { ...DEFAULT_CONFIG, ...request.config });
  const server = (x, y) => ({ x, y, vx: 0, vy: 0, alive: true, boosted: false, canMove: true });
  p.reconcile({ ...server(0, 0), ...request.start }, -1);
  const acks = new Map(request.acks.map(([after, ack, x, y]) => [after, { ack, x, y }]));
  answer = [];
  request.inputs.forEach((input, i) => {
    p.applyInput(input);
    const a = acks.get(i);
    if (a) {
      p.reconcile(server(a.x, a.y), a.ack);
      answer.push({ x: p.state.x, y: p.state.y, vx: p.state.vx, vy: p.state.vy, pending: p.pending.length });
    }
  });
  answer.push({ x: p.state.x, y: p.state.y, vx: p.state.vx, vy: p.state.vy, pending: p.pending.length });
} else if (request.mode === "paddle_predict") {
  let config = { ...paddle.defaults, ...request.config };
  config = paddle.configFromSnapshot(config, request.start);
  const id = request.player;
  const p = new Predictor(paddle, config);
  const at = (pos) => {
    const snap = structuredClone(request.start);
    snap.paddles[id][0] = pos;
    return paddle.ownState(snap, id, config);
  };
  p.reconcile(paddle.ownState(request.start, id, config), -1);
  const acks = new Map(request.acks.map(([after, ack, pos]) => [after, { ack, pos }]));
  answer = [];
  request.inputs.forEach((input, i) => {
    p.applyInput(input);
    const a = acks.get(i);
    if (a) {
      p.reconcile(at(a.pos), a.ack);
      answer.push({ pos: p.state.pos, pending: p.pending.length });
    }
  });
} else if (request.mode === "playback") {
  const doc = decode(new Uint8Array(Buffer.from(request.document, "base64")));
  const game = GAMES[doc.game];
  const pb = new Playback(doc, snapshotApplier(game));
  answer = request.seeks.map((tick) => {
    pb.seek(tick);
    const state = pb.current();
    return { tick: state.tick, ...pb.lastSeek, state, scoreboard: game.scoreboard(state, game.defaults) };
  });
} else if (request.mode === "defaults") {
  answer = (GAMES[request.game ?? "arena"]).defaults;
} else {
  throw new Error(`unknown mode ${request.mode}`);
}
process.stdout.write(JSON.stringify(answer));
