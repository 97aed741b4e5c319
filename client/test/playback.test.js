import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Playback, SPEEDS, SEEK_SECONDS, DocumentError, checkDocument, lastAtOrBefore, formatClock, keyAction, cameraLayout, loadMessage,
  replayPageUrl, findEndedMatch,
} from "../static/client/js/sdk/playback.js";
import { defineSchema, applyDelta } from "../static/client/js/sdk/schema.js";

const SCHEMA = defineSchema({ collections: [{ name: "e", movable: 1 }] });

/**
 * A document of 10 frames, 2 ticks apart from tick 2 (tick_rate 20), a
 * keyframe every 4 frames; entity 1 sits at x = tick, entity 2 scores a
 * point every 4 ticks. `applied` counts the applies.
 */
function makeDoc() {
  const states = [];
  const frames = [];
  for (let i = 0; i < 10; i++) {
    const tick = 2 + 2 * i;
    const s = { t: "snap", tick, acks: {}, full: true, phase: "playing", phase_ends: 0, e: { 1: [tick, "a"], 2: [0, Math.floor(tick / 4)] } };
    states.push(s);
    if (i % 4 === 0) frames.push(s);
    else {
      const prev = states[i - 1];
      const d = { t: "snap", tick, acks: {}, full: false, e: { m: { 1: [tick - prev.tick] } } };
      if (s.e[2][1] !== prev.e[2][1]) d.e.c = { 2: { 1: s.e[2][1] } };
      frames.push(d);
    }
  }
  const doc = {
    t: "replay", v: 1, match_id: 3, game: "x", room: "r", tick_rate: 20, snapshot_rate: 10,
    first_tick: 2, last_tick: 20, keyframe_interval: 8, players: [{ id: 1, name: "a" }],
    frames, keyframes: [0, 4, 8],
    events: [
      { t: "event", kind: "kill", tick: 4, killer: 1, victim: 2 },
      { t: "event", kind: "quiet", tick: 6 },
      { t: "event", kind: "kill", tick: 12, killer: 2, victim: 1 },
    ],
    results: [],
  };
  return { doc, states };
}

function counting() {
  const calls = { n: 0 };
  return { calls, apply: (f, prev) => { calls.n++; return applyDelta(SCHEMA, f, prev); } };
}

test("a document that is not a version-1 replay is refused with a reason", () => {
  const { doc } = makeDoc();
  assert.equal(checkDocument(doc), doc);
  assert.throws(() => checkDocument(null), DocumentError);
  assert.throws(() => checkDocument({ ...doc, t: "snap" }), /not a replay/);
  assert.throws(() => checkDocument({ ...doc, v: 2 }), /version 2/);
  assert.throws(() => checkDocument({ ...doc, frames: [] }), /no frames/);
  assert.throws(() => checkDocument({ ...doc, frames: doc.frames.slice(1), keyframes: [0] }), /keyframe/);
});

test("every frame's state is its keyframe with the deltas after it applied", () => {
  const { doc, states } = makeDoc();
  const pb = new Playback(doc, counting().apply);
  for (let i = 0; i < states.length; i++) {
    pb.cache = null; // a cold seek
    assert.deepEqual(pb.stateAt(i), states[i], `frame ${i}`);
    const key = [0, 4, 8].filter((k) => k <= i).pop();
    assert.deepEqual(pb.lastSeek, { keyframe: key, applied: i - key });
  }
});

test("seeking back starts from the keyframe before the target, never from the first frame", () => {
  const { doc, states } = makeDoc();
  const { calls, apply } = counting();
  const pb = new Playback(doc, apply);
  pb.stateAt(9);
  calls.n = 0;
  assert.deepEqual(pb.stateAt(pb.indexAt(13)), states[5]); // tick 13 shows frame 5 (tick 12)
  assert.deepEqual(pb.lastSeek, { keyframe: 4, applied: 1 });
  assert.equal(calls.n, 2, "the keyframe and one delta");
});

test("playing forward applies one delta per frame", () => {
  const { doc, states } = makeDoc();
  const { calls, apply } = counting();
  const pb = new Playback(doc, apply);
  pb.stateAt(0);
  calls.n = 0;
  for (let i = 1; i < 4; i++) assert.deepEqual(pb.stateAt(i), states[i]);
  assert.equal(calls.n, 3);
});

test("the bracket is the frame at the playhead and the next, with the fraction between", () => {
  const { doc, states } = makeDoc();
  const pb = new Playback(doc, counting().apply);
  pb.seek(7);
  const pair = pb.bracket();
  assert.deepEqual([pair.a, pair.b, pair.t, pair.tick], [states[2], states[3], 0.5, 7]);
  pb.seek(20);
  const end = pb.bracket();
  assert.deepEqual([end.a, end.b, end.t], [states[9], states[9], 1]);
});

test("the playhead moves at the speed, stops at the end, and play at the end starts over", () => {
  const { doc } = makeDoc();
  const pb = new Playback(doc, counting().apply);
  assert.equal(pb.advance(1000), 2, "paused: nothing moves");
  assert.equal(pb.toggle(), true);
  pb.setSpeed(0.5);
  assert.equal(pb.advance(400), 2 + 4); // 0.4 s * 20 ticks/s * 0.5
  pb.setSpeed(4);
  assert.equal(pb.advance(100), 6 + 8);
  pb.advance(10_000);
  assert.deepEqual([pb.tick, pb.playing], [20, false]);
  assert.equal(pb.toggle(), true);
  assert.equal(pb.tick, 2, "playing again from the start");
});

test("speeds are the offered ones only; stepping stays within them", () => {
  const { doc } = makeDoc();
  const pb = new Playback(doc, counting().apply);
  assert.deepEqual(SPEEDS, [0.25, 0.5, 1, 2, 4]);
  assert.equal(pb.setSpeed(3), 1);
  assert.equal(pb.setSpeed("2"), 2);
  assert.equal(pb.stepSpeed(1), 4);
  assert.equal(pb.stepSpeed(1), 4);
  for (let i = 0; i < 6; i++) pb.stepSpeed(-1);
  assert.equal(pb.speed, 0.25);
});

test("seeks are clamped to the replay; seconds and frames step from the playhead", () => {
  const { doc } = makeDoc();
  const pb = new Playback(doc, counting().apply);
  assert.equal(pb.seek(-50), 2);
  assert.equal(pb.seek(999), 20);
  assert.equal(pb.seek("nonsense"), 2);
  pb.seek(11);
  assert.equal(pb.seekBy(-0.25), 6);
  assert.equal(pb.stepFrames(1), 8);
  assert.equal(pb.stepFrames(-10), 2);
  assert.equal(pb.seconds(12), 0.5);
  assert.equal(pb.duration(), 0.9);
});

test("the feed and events are those up to the playhead", () => {
  const { doc } = makeDoc();
  const pb = new Playback(doc, counting().apply);
  const describe = (e) => (e.kind === "kill" ? `${e.killer}>${e.victim}` : "");
  pb.seek(3);
  assert.deepEqual(pb.feed(describe), []);
  pb.seek(11);
  assert.deepEqual(pb.eventsUntil().map((e) => e.tick), [4, 6]);
  assert.deepEqual(pb.feed(describe), [{ tick: 4, text: "1>2" }]);
  pb.seek(20);
  assert.deepEqual(pb.feed(describe).map((l) => l.text), ["1>2", "2>1"]);
  assert.deepEqual(pb.feed(describe, 1).map((l) => l.text), ["2>1"]);
});

test("lastAtOrBefore and formatClock", () => {
  assert.equal(lastAtOrBefore([2, 4, 6], 5), 1);
  assert.equal(lastAtOrBefore([2, 4, 6], 6), 2);
  assert.equal(lastAtOrBefore([2, 4, 6], 1), 0);
  assert.equal(lastAtOrBefore([2, 4, 6], 99), 2);
  assert.equal(formatClock(125.9), "2:05");
  assert.equal(formatClock(-3), "0:00");
});

test("the keys: space, arrows (shift: one frame), home/end, 1-5, [ ], F", () => {
  const k = (key, code = "", shiftKey = false) => keyAction({ key, code, shiftKey });
  assert.deepEqual(k(" ", "Space"), { type: "toggle" });
  assert.deepEqual(k("ArrowLeft"), { type: "seek", seconds: -SEEK_SECONDS });
  assert.deepEqual(k("ArrowRight"), { type: "seek", seconds: SEEK_SECONDS });
  assert.deepEqual(k("ArrowRight", "", true), { type: "frame", delta: 1 });
  assert.deepEqual(k("Home"), { type: "start" });
  assert.deepEqual(k("End"), { type: "end" });
  assert.deepEqual(k("1", "Digit1"), { type: "speed", speed: 0.25 });
  assert.deepEqual(k("5", "Digit5"), { type: "speed", speed: 4 });
  assert.equal(k("6", "Digit6"), null);
  assert.deepEqual(k("[", "BracketLeft"), { type: "slower" });
  assert.deepEqual(k("]", "BracketRight"), { type: "faster" });
  assert.deepEqual(k("f", "KeyF"), { type: "follow" });
  assert.equal(k("x", "KeyX"), null);
});

test("the camera shows the whole map, or follows a player without leaving the map", () => {
  const size = { w: 800, h: 500 };
  const extent = { w: 1600, h: 1000 };
  assert.deepEqual(cameraLayout(size, extent, null), { scale: 0.5, ox: 0, oy: 0 });
  const mid = cameraLayout(size, extent, { x: 800, y: 500 }, 2);
  assert.deepEqual(mid, { scale: 1, ox: 400 - 800, oy: 250 - 500 }, "the player in the middle of the canvas");
  const corner = cameraLayout(size, extent, { x: 10, y: 990 }, 2);
  assert.deepEqual(corner, { scale: 1, ox: 0, oy: 500 - 1000 }, "clamped: the map's edges stay at the canvas's");
});

test("failed loads have a message per cause", () => {
  assert.match(loadMessage(403, 5), /private room/);
  assert.match(loadMessage(404, 5), /no replay of match 5/);
  assert.match(loadMessage(0, 5), /cannot be reached/);
  assert.match(loadMessage(401, 5), /Log in/);
  assert.match(loadMessage(500, 5), /HTTP 500/);
});

test("match history links the replay page only when the match has a replay", () => {
  assert.equal(replayPageUrl({ id: 12, replay: "/api/matches/12/replay" }), "/replay/12/");
  assert.equal(replayPageUrl({ id: 12, replay: null }), null);
  assert.equal(replayPageUrl({ id: 12 }), null, "an older server without replays");
  assert.equal(replayPageUrl({ id: "../x", replay: "/api/matches/x/replay" }), null);
  assert.equal(replayPageUrl(null), null);
});

test("the match that just ended is found in the history by room, players and scores", () => {
  const results = [{ player_id: 2, name: "b", score: 3, place: 1 }, { player_id: 1, name: "a", score: 1, place: 2 }];
  const entry = (id, room, scores) => ({ id, room, replay: "x", players: scores.map(([user_id, score]) => ({ user_id, score })) });
  const matches = [
    entry(9, "other", [[1, 1], [2, 3]]),
    entry(8, "r", [[1, 1], [2, 3]]),
    entry(7, "r", [[1, 0], [2, 3]]),
  ];
  assert.equal(findEndedMatch(matches, "r", results).id, 8);
  assert.equal(findEndedMatch(matches.slice(2), "r", results), null, "an earlier match of the room is not it");
  assert.equal(findEndedMatch(undefined, "r", results), null);
});
