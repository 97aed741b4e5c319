/**
 * Schema-driven snapshot deltas: the browser's port of engine/snapcodec.py
 * (SchemaCodec.apply and _copy_full), for any game that declares its
 * snapshot as a schema.
 *
 * A schema is {collections: [{name, movable, wrap?, modulus?}], scalars,
 * static} exactly as the game's Python SnapshotSchema:
 *
 * - a full snapshot ({full: true}) replaces the state (as a copy);
 * - a delta copies the previous full state, takes `tick` and `acks`, each
 *   scalar present in the delta, then per collection present: removes `r`,
 *   adds the `m` differences to the leading fields (the `wrap` field is taken
 *   modulo `modulus` with a floor modulo, like Python's %), overwrites the
 *   `c` fields and finally adds (or replaces) the `a` entities; static keys
 *   carry over from the previous full snapshot.
 *
 * A delta that moves or changes an entity the base lacks (or comes without a
 * base) throws, as the Python apply would (KeyError): the session then waits
 * for the next full snapshot.
 */

const RESERVED = new Set(["t", "tick", "acks", "full"]);

/**
 * Check and freeze a schema: {collections: [{name, movable = 0, wrap = null, modulus = 0}],
 * scalars = ["phase", "phase_ends"], static = []}. Throws on what the Python
 * side refuses (duplicate or reserved keys, a wrap outside the movable fields).
 */
export function defineSchema({ collections, scalars = ["phase", "phase_ends"], static: statics = [] }) {
  const cols = (collections || []).map((c) => {
    const col = { name: String(c.name), movable: c.movable ?? 0, wrap: c.wrap ?? null, modulus: c.modulus ?? 0 };
    if (!Number.isInteger(col.movable) || col.movable < 0) throw new Error(`${col.name}: movable must be >= 0`);
    if (col.wrap !== null && !(col.wrap >= 0 && col.wrap < col.movable && col.modulus > 1)) {
      throw new Error(`${col.name}: wrap must index a movable field, with modulus > 1`);
    }
    return Object.freeze(col);
  });
  const keys = [...cols.map((c) => c.name), ...scalars, ...statics];
  if (new Set(keys).size !== keys.length || keys.some((k) => RESERVED.has(k))) {
    throw new Error("snapshot schema keys must be unique and not t/tick/acks/full");
  }
  return Object.freeze({ collections: Object.freeze(cols), scalars: Object.freeze([...scalars]), static: Object.freeze([...statics]) });
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

/** A copy deep enough that mutating entity arrays or static values never touches `snap`. */
export function copyFull(schema, snap) {
  const out = { ...snap };
  out.acks = { ...(snap.acks || {}) };
  for (const col of schema.collections) {
    const src = snap[col.name] || {};
    const ents = {};
    for (const id of Object.keys(src)) ents[id] = src[id].slice();
    out[col.name] = ents;
  }
  for (const key of schema.static) if (key in snap) out[key] = deepCopy(snap[key]);
  return out;
}

/** Floor modulo (Python's %): the result has the sign of the modulus. */
export function floorMod(value, modulus) {
  return ((value % modulus) + modulus) % modulus;
}

/**
 * The full state after `delta` (SchemaCodec.apply). Neither argument is
 * mutated; a full snapshot passed as `delta` comes back as a copy.
 */
export function applyDelta(schema, delta, prevFull) {
  if (delta.full) return copyFull(schema, delta);
  if (!prevFull) throw new Error("delta without a full snapshot to apply it to");
  const out = copyFull(schema, prevFull);
  out.tick = delta.tick;
  out.acks = { ...delta.acks };
  for (const key of schema.scalars) if (key in delta) out[key] = delta[key];
  for (const col of schema.collections) {
    const part = delta[col.name];
    if (!part || Object.keys(part).length === 0) continue;
    const ents = out[col.name];
    for (const id of part.r || []) delete ents[id];
    for (const [id, moves] of Object.entries(part.m || {})) {
      const ent = ents[id];
      if (!ent) throw new Error(`delta moves unknown ${col.name} ${id}`);
      for (let i = 0; i < moves.length; i++) {
        ent[i] += moves[i];
        if (i === col.wrap) ent[i] = floorMod(ent[i], col.modulus);
      }
    }
    for (const [id, fields] of Object.entries(part.c || {})) {
      const ent = ents[id];
      if (!ent) throw new Error(`delta changes unknown ${col.name} ${id}`);
      for (const [i, value] of Object.entries(fields)) ent[Number(i)] = value;
    }
    for (const [id, values] of Object.entries(part.a || {})) ents[id] = values.slice();
  }
  return out;
}
