import { test } from "node:test";
import assert from "node:assert/strict";
import { GameSession, SEQ_MARGIN } from "../static/client/js/sdk/session.js";
import arena, { normAim } from "../static/client/js/games/arena.js";

const full = (tick, x, ack = -1, extra = {}) => ({
  t: "snap", tick, acks: { 7: ack }, full: true, phase: "waiting", phase_ends: 0,
  map: [1600, 1000, []],
  players: { 7: [x * 8, 800, 0, 100, 1, 0, 0, 0, "me"], 8: [4000, 4000, 0, 100, 1, 2, 1, 2, "you"] },
  projectiles: {}, pickups: {}, ...extra,
});

function joined(ack = -1) {
  const s = new GameSession(arena);
  s.handleFrame({ t: "welcome", player_id: 7, room: "r", tick_rate: 20, snapshot_rate: 20, spectator: false }, 0);
  s.handleFrame(full(100, 400, ack), 10, 200);
  return s;
}

test("welcome then a full snapshot: the own player is predicted from the server position", () => {
  const s = joined();
  assert.equal(s.playerId, 7);
  assert.deepEqual(s.me().x, 400);
  assert.ok(s.canSendInput());
  assert.equal(s.seq, SEQ_MARGIN); // -1 + 1 + margin
  const { x, y, vx, vy } = s.predictor.state;
  assert.deepEqual({ x, y, vx, vy }, { x: 400, y: 100, vx: 0, vy: 0 });
  assert.deepEqual(s.config.walls, []);
});

test("a resumed player continues above the server's last seq", () => {
  const s = joined(500);
  assert.equal(s.seq, 501 + SEQ_MARGIN);
});

test("input frames carry increasing seq and the tick being looked at", () => {
  const s = joined();
  const keys = new Set(["KeyD", "ArrowRight", "KeyW", "Space"]);
  const a = s.nextInput(arena.input({ keys, pointer: null, pointerDown: false, frameMs: 0 }, { aim: 7 }, s.predictor.state), 98.6);
  const b = s.nextInput({ mx: 0, my: 0, aim: 0, fire: false });
  assert.equal(b.seq, a.seq + 1);
  assert.deepEqual([a.t, a.mx, a.my, a.fire, a.tick], ["input", 1, -1, true, 98]);
  assert.ok(Math.abs(a.aim - normAim(7)) < 1e-12 && Math.abs(a.aim) <= Math.PI);
  assert.equal(b.tick, 100);
  assert.equal(s.predictor.pending.length, 2);
  assert.ok(s.predictor.state.x > 400);
});

test("deltas apply to the last full snapshot; a delta without a base is skipped", () => {
  const s = new GameSession(arena);
  s.handleFrame({ t: "welcome", player_id: 7, room: "r", tick_rate: 20, snapshot_rate: 20 }, 0);
  s.handleFrame({ t: "snap", tick: 5, acks: {}, full: false }, 1);
  assert.equal(s.full, null);
  assert.equal(s.deltaFailures, 1);
  s.handleFrame(full(6, 400), 2);
  s.handleFrame({ t: "snap", tick: 7, acks: { 7: -1 }, full: false, players: { m: { 8: [8, 0] } } }, 3);
  assert.equal(s.full.tick, 7);
  assert.equal(s.full.players[8][0], 4008);
  // A delta naming an unknown entity: wait for the next full snapshot.
  s.handleFrame({ t: "snap", tick: 8, acks: {}, full: false, players: { m: { 99: [1] } } }, 4);
  s.handleFrame({ t: "snap", tick: 9, acks: {}, full: false }, 5);
  assert.equal(s.full.tick, 7);
  s.handleFrame(full(10, 300), 6);
  assert.equal(s.full.tick, 10);
});

test("ping and pong measure the round trip", () => {
  const s = joined();
  const ping = s.nextPing(1000);
  assert.equal(ping.t, "ping");
  s.handleFrame({ t: "pong", id: ping.id }, 1042);
  assert.equal(s.rtt, 42);
  s.handleFrame({ t: "pong", id: 12345 }, 1100); // unknown ids are ignored
  assert.equal(s.rtt, 42);
});

test("chat, events and errors are kept and drained once", () => {
  const s = joined();
  s.handleFrame({ t: "chat", from: { id: 8, name: "you" }, text: "<b>hi</b>", ts: "2026-01-01T00:00:00Z" }, 0);
  s.handleFrame({ t: "event", kind: "kill", tick: 3, killer: 7, victim: 8 }, 0);
  s.handleFrame({ t: "error", code: "invalid", message: "mx" }, 0);
  s.handleFrame({ t: "mystery" }, 0);
  s.handleFrame({ t: "events", tick: 4, events: [{ t: "event", kind: "pickup", tick: 4, player: 7, item: "speed" }, null] }, 0);
  assert.equal(s.drain("chat")[0].text, "<b>hi</b>");
  assert.equal(s.drain("chat").length, 0);
  assert.deepEqual(s.drain("events").map((e) => e.kind), ["kill", "pickup"]);
  assert.equal(s.drain("errors")[0].code, "invalid");
});

test("a deleted room chat line is dropped and reported once", () => {
  const s = joined();
  s.handleFrame({ t: "chat", id: 5, from: { id: 8, name: "you" }, text: "rude", ts: "" }, 0);
  s.handleFrame({ t: "chat", id: 6, from: { id: 8, name: "you" }, text: "fine", ts: "" }, 0);
  s.handleFrame({ t: "chat.deleted", id: 5 }, 0);
  assert.deepEqual(s.chat.map((m) => m.id), [6]);
  assert.deepEqual(s.drain("chat").map((m) => m.id), [6]);
  assert.deepEqual(s.drain("deleted"), [5]);
  assert.deepEqual(s.drain("deleted"), []);
});

test("scoreboard order and phase timer", () => {
  const s = joined();
  s.handleFrame(full(200, 400, -1, { phase: "playing", phase_ends: 260 }), 20);
  assert.deepEqual(s.scoreboard().rows.map((p) => p.name), ["you", "me"]);
  assert.deepEqual(s.scoreboard().columns, ["Score", "Kills", "Deaths"]);
  assert.equal(s.phaseSecondsLeft(), 3);
});

test("spectators never send inputs", () => {
  const s = new GameSession(arena, { spectate: true });
  s.handleFrame({ t: "welcome", player_id: 7, room: "r", tick_rate: 20, snapshot_rate: 20, spectator: true }, 0);
  s.handleFrame(full(1, 400), 1);
  assert.equal(s.canSendInput(), false);
});

test("a reconnect keeps seq increasing and waits for a new full snapshot", () => {
  const s = joined();
  s.nextInput({ mx: 1, my: 0, aim: 0, fire: false });
  const seq = s.seq;
  s.resetConnection();
  assert.equal(s.canSendInput(), false);
  s.handleFrame(full(300, 500, seq - 1), 50);
  assert.ok(s.seq >= seq);
  assert.equal(s.predictor.state.x, 500);
});
