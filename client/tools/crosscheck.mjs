#!/usr/bin/env node
/**
 * Runs the browser client's pure modules on data made by the Python engine,
 * for tests/e2e/test_client_codec.py. Reads one JSON request on stdin:
 *
 *   {"mode": "snapshots", "frames": ["<base64 msgpack>", ...]}
 *       -> the full state after applying each frame in turn (codec.js)
 *   {"mode": "moves", "config": {...}, "start": {x, y, vx, vy}, "steps": [{mx, my, boosted}]}
 *       -> the state after each movement step (physics.js)
 *   {"mode": "predict", "config": {...}, "start": {...}, "inputs": [{seq, mx, my}], "acks": [[seq, x, y], ...]}
 *       -> the predicted state after each reconcile (prediction.js)
 *   {"mode": "defaults"} -> physics.js DEFAULT_CONFIG
 *
 * and writes one JSON answer on stdout.
 */
import { applySnapshot, decodeFrame } from "../static/client/js/codec.js";
import { derive, movePlayer, DEFAULT_CONFIG } from "../static/client/js/physics.js";
import { Predictor } from "../static/client/js/prediction.js";

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
  let state = null;
  answer = request.frames.map((b64) => {
    const frame = decodeFrame(new Uint8Array(Buffer.from(b64, "base64")));
    state = applySnapshot(frame, state);
    return state;
  });
} else if (request.mode === "moves") {
  const d = derive(request.config);
  let state = request.start;
  answer = request.steps.map((s) => (state = movePlayer(state, s, Boolean(s.boosted), d)));
} else if (request.mode === "predict") {
  const p = new Predictor(derive(request.config));
  p.reconcile({ ...request.start, alive: true, boosted: false }, -1);
  const acks = new Map(request.acks.map(([after, ack, x, y]) => [after, { ack, x, y }]));
  answer = [];
  request.inputs.forEach((input, i) => {
    p.applyInput(input);
    const a = acks.get(i);
    if (a) {
      p.reconcile({ x: a.x, y: a.y, alive: true, boosted: false }, a.ack);
      answer.push({ ...p.state, pending: p.pending.length });
    }
  });
  answer.push({ ...p.state, pending: p.pending.length });
} else if (request.mode === "defaults") {
  answer = DEFAULT_CONFIG;
} else {
  throw new Error(`unknown mode ${request.mode}`);
}
process.stdout.write(JSON.stringify(answer));
