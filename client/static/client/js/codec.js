/**
 * Snapshot wire format: the browser's port of engine/codec.py.
 *
 * A full snapshot is a plain object {t: "snap", tick, acks, full: true, phase,
 * phase_ends, players, projectiles, pickups, map?}; each entity collection is
 * {id: [fields...]} with integer ids (msgpack int keys, which become string
 * property names in JS: both sides of every lookup use the same strings).
 * applySnapshot() is engine.codec.apply, step for step: a full snapshot
 * replaces the state; a delta copies the previous full snapshot, takes tick,
 * acks and changed phase fields, then per collection removes ("r"), adds
 * movement differences ("m"; a player's aim wraps modulo 256), overwrites
 * fields ("c") and finally adds ("a").
 * Keep the two in step: tests/e2e/test_client_codec.py feeds engine-made
 * msgpack bytes through this module and compares with engine.codec.apply.
 */
import { decode, encode } from "@msgpack/msgpack";

/** Positions and velocities travel as ints in 1/8 world unit. */
export const POS_SCALE = 8;
/** Angles travel as ints in 1/256 turn, in [0, 256). */
export const AIM_STEPS = 256;
/** Entity maps of a snapshot. */
export const COLLECTIONS = Object.freeze(["players", "projectiles", "pickups"]);
/** The field whose "m" difference wraps (new = (old + d) mod AIM_STEPS): players' aim. */
export const WRAPPED = Object.freeze({ players: 2 });

// Player array: [x, y, aim, hp, flags, kills, deaths, score, name]
export const P_X = 0, P_Y = 1, P_AIM = 2, P_HP = 3, P_FLAGS = 4,
  P_KILLS = 5, P_DEATHS = 6, P_SCORE = 7, P_NAME = 8;
export const FLAG_ALIVE = 1;
export const FLAG_BOOST = 2;
// Projectile array: [x0, y0, vx, vy, t0, owner]; at tick T: x0 + vx * (T - t0).
export const J_X0 = 0, J_Y0 = 1, J_VX = 2, J_VY = 3, J_T0 = 4, J_OWNER = 5;
// Pickup array: [x, y, kind]
export const PICKUP_KINDS = Object.freeze(["health", "speed"]);

/** Wire int (1/8 unit) -> world units. */
export function unqPos(value) {
  return value / POS_SCALE;
}

/** World units -> wire int, rounding half to even like Python's round(). */
export function qPos(value) {
  return roundHalfEven(value * POS_SCALE);
}

/** Wire angle (1/256 turn) -> radians in [0, 2*pi). */
export function unqAim(value) {
  return (value / AIM_STEPS) * 2 * Math.PI;
}

/** Radians -> wire angle in [0, 256), like engine.codec.q_aim. */
export function qAim(radians) {
  const steps = roundHalfEven((radians / (2 * Math.PI)) * AIM_STEPS);
  return ((steps % AIM_STEPS) + AIM_STEPS) % AIM_STEPS;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Decode one binary server frame into a plain object; throws if it is not a map with a string "t". */
export function decodeFrame(bytes) {
  const obj = decode(bytes);
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new TypeError("frame must be a msgpack map");
  }
  if (typeof obj.t !== "string") throw new TypeError('frame needs a string "t"');
  return obj;
}

/** Encode one client frame as msgpack bytes. */
export function encodeFrame(frame) {
  return encode(frame);
}

function copyEntities(map) {
  const out = {};
  if (map) for (const id of Object.keys(map)) out[id] = map[id].slice();
  return out;
}

function deepCopy(value) {
  if (Array.isArray(value)) return value.map(deepCopy);
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    const out = {};
    for (const key of Object.keys(value)) out[key] = deepCopy(value[key]);
    return out;
  }
  return value;
}

/** Copy deep enough that mutating entity arrays never touches `snap` (engine.codec._copy_full). */
export function copyFull(snap) {
  const out = { ...snap };
  out.acks = { ...(snap.acks || {}) };
  for (const name of COLLECTIONS) out[name] = copyEntities(snap[name]);
  if ("map" in snap) out.map = deepCopy(snap.map);
  return out;
}

/**
 * Apply a delta to the full snapshot it was made from (engine.codec.apply).
 * Returns a new full snapshot; neither argument is mutated. A full snapshot
 * passed as `delta` is returned as a copy (it replaces the state).
 * Throws if the delta names an entity the previous snapshot lacks (a delta
 * applied to the wrong base): the caller then waits for the next full one.
 */
export function applySnapshot(delta, prevFull) {
  if (delta.full) return copyFull(delta);
  if (!prevFull) throw new Error("delta without a full snapshot to apply it to");
  const out = copyFull(prevFull);
  out.tick = delta.tick;
  out.acks = { ...delta.acks };
  for (const key of ["phase", "phase_ends"]) {
    if (key in delta) out[key] = delta[key];
  }
  for (const name of COLLECTIONS) {
    const part = delta[name];
    if (!part || Object.keys(part).length === 0) continue;
    const entities = out[name];
    for (const id of part.r || []) delete entities[id];
    const wrap = WRAPPED[name];
    for (const [id, moves] of Object.entries(part.m || {})) {
      const entity = entities[id];
      if (!entity) throw new Error(`delta moves unknown ${name} ${id}`);
      for (let i = 0; i < moves.length; i++) {
        entity[i] += moves[i];
        // Python's % is a floor modulo: the result is always in [0, AIM_STEPS).
        if (i === wrap) entity[i] = ((entity[i] % AIM_STEPS) + AIM_STEPS) % AIM_STEPS;
      }
    }
    for (const [id, fields] of Object.entries(part.c || {})) {
      const entity = entities[id];
      if (!entity) throw new Error(`delta changes unknown ${name} ${id}`);
      for (const [i, value] of Object.entries(fields)) entity[Number(i)] = value;
    }
    for (const [id, values] of Object.entries(part.a || {})) entities[id] = values.slice();
  }
  return out;
}

/** A player array as a readable object (world units, radians). */
export function playerView(id, arr) {
  return {
    id: Number(id),
    x: unqPos(arr[P_X]),
    y: unqPos(arr[P_Y]),
    aim: unqAim(arr[P_AIM]),
    hp: arr[P_HP],
    alive: (arr[P_FLAGS] & FLAG_ALIVE) !== 0,
    boost: (arr[P_FLAGS] & FLAG_BOOST) !== 0,
    kills: arr[P_KILLS],
    deaths: arr[P_DEATHS],
    score: arr[P_SCORE],
    name: String(arr[P_NAME] ?? ""),
  };
}

/** Where a projectile is at (possibly fractional) tick `tick`, in world units. */
export function projectileAt(arr, tick) {
  const dt = tick - arr[J_T0];
  return {
    x: unqPos(arr[J_X0] + arr[J_VX] * dt),
    y: unqPos(arr[J_Y0] + arr[J_VY] * dt),
    owner: arr[J_OWNER],
  };
}
