/**
 * The arena's snapshot wire format (docs/protocol.md "Snapshots").
 *
 * A full snapshot is a plain object {t: "snap", tick, acks, full: true, phase,
 * phase_ends, players, projectiles, pickups, map?}; each entity collection is
 * {id: [fields...]} with integer ids (msgpack int keys, which become string
 * property names in JS: both sides of every lookup use the same strings).
 * applySnapshot() is engine.arena.codec.apply: the SDK's schema apply
 * (sdk/schema.js) with the arena's schema (a player's aim wraps modulo 256).
 * tests/client/test_client_engine_crosscheck.py feeds engine-made msgpack
 * bytes through it and compares with the engine's states.
 */
import { defineSchema, applyDelta, copyFull as schemaCopy } from "../../sdk/schema.js";
export { decodeFrame, encodeFrame } from "../../sdk/frames.js";

/** Positions and velocities travel as ints in 1/8 world unit. */
export const POS_SCALE = 8;
/** Angles travel as ints in 1/256 turn, in [0, 256). */
export const AIM_STEPS = 256;

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

/** The arena's snapshot schema (engine/arena's codec, as tests/engine/test_snapcodec.py declares it). */
export const SCHEMA = defineSchema({
  collections: [
    { name: "players", movable: 3, wrap: 2, modulus: AIM_STEPS },
    { name: "projectiles" },
    { name: "pickups" },
  ],
  scalars: ["phase", "phase_ends"],
  static: ["map"],
});

/** Copy deep enough that mutating entity arrays never touches `snap` (engine.arena.codec._copy_full). */
export function copyFull(snap) {
  return schemaCopy(SCHEMA, snap);
}

/**
 * Apply a delta to the full snapshot it was made from (engine.arena.codec.apply),
 * through the SDK's schema apply. Returns a new full snapshot; neither argument
 * is mutated. Throws if the delta names an entity the previous snapshot lacks.
 */
export function applySnapshot(delta, prevFull) {
  return applyDelta(SCHEMA, delta, prevFull);
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
