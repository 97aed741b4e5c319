/**
 * Interpolation (SDK): other entities are drawn ~100 ms in the past.
 *
 * Full states (deltas applied) are kept with their tick. A local estimate of
 * the server's tick clock (arrival time minus tick * tick interval; early
 * packets pull it in fast, late ones move it slowly, a jump over 250 ms
 * resets it) turns "now" into a render tick `delay` ms behind the newest
 * information. `bracket(tick)` gives the two states around it and the
 * fraction between them; the game plug-in's `interpolate` builds what it
 * draws from that pair (`entitiesBetween` does the usual per-entity part).
 * No extrapolation past the newest state unless the game does its own.
 */

export class InterpolationBuffer {
  constructor({ tickRate = 20, delayMs = 100, capacity = 32 } = {}) {
    this.tickMs = 1000 / tickRate;
    this.delayMs = delayMs;
    this.capacity = capacity;
    this.snaps = []; // [{tick, snap}] ascending tick
    this.offset = null; // ms: arrival time of tick 0 on the local clock
  }

  setTickRate(tickRate) {
    this.tickMs = 1000 / tickRate;
    this.offset = null;
  }

  clear() {
    this.snaps = [];
    this.offset = null;
  }

  /** Add a full state (after the delta was applied) that arrived at nowMs. */
  push(snap, nowMs) {
    const tick = snap.tick;
    const sample = nowMs - tick * this.tickMs;
    if (this.offset === null || Math.abs(sample - this.offset) > 250) {
      this.offset = sample; // first snapshot, or a jump (reconnect, hidden tab)
    } else if (sample < this.offset) {
      this.offset += (sample - this.offset) * 0.2; // an early packet: less delay than thought
    } else {
      this.offset += (sample - this.offset) * 0.02; // late packets: adapt slowly (jitter)
    }
    const last = this.snaps[this.snaps.length - 1];
    if (last && tick <= last.tick) {
      if (tick === last.tick) this.snaps[this.snaps.length - 1] = { tick, snap };
      else this.snaps = [{ tick, snap }]; // the server restarted its clock
    } else {
      this.snaps.push({ tick, snap });
    }
    if (this.snaps.length > this.capacity) this.snaps.shift();
  }

  /** The (fractional) tick to draw others at. */
  renderTick(nowMs) {
    if (this.offset === null) return 0;
    return (nowMs - this.offset - this.delayMs) / this.tickMs;
  }

  newest() {
    return this.snaps.length ? this.snaps[this.snaps.length - 1].snap : null;
  }

  /**
   * The states around `tick`: {a, b, t} with a.tick <= tick <= b.tick and t in
   * [0, 1] the fraction from a to b (before the oldest: a = b = oldest; past
   * the newest: a = b = newest, t = 1), plus `tick` and the `newest` state;
   * null while the buffer is empty.
   */
  bracket(tick) {
    const n = this.snaps.length;
    if (n === 0) return null;
    let a = this.snaps[0];
    let b = this.snaps[0];
    if (tick >= this.snaps[n - 1].tick) {
      a = b = this.snaps[n - 1];
    } else if (tick > this.snaps[0].tick) {
      for (let i = 1; i < n; i++) {
        if (this.snaps[i].tick >= tick) {
          a = this.snaps[i - 1];
          b = this.snaps[i];
          break;
        }
      }
    }
    const span = b.tick - a.tick;
    const t = span > 0 ? Math.min(1, Math.max(0, (tick - a.tick) / span)) : 1;
    return { a: a.snap, b: b.snap, t, tick, newest: this.snaps[n - 1].snap };
  }
}

/**
 * Per-entity interpolation of one collection between the states of a
 * bracket: for every entity of the later state, `view(id, arr)` builds what is
 * drawn and, when the earlier state has it too and t < 1, `mix(view, prevArr,
 * arr, t)` moves it in between (and may decline, e.g. for a teleport).
 * Entities that appear only in the later state are shown from it.
 */
export function entitiesBetween(pair, name, view, mix) {
  const out = {};
  if (!pair) return out;
  const prev = pair.a[name] || {};
  for (const [id, arr] of Object.entries(pair.b[name] || {})) {
    const v = view(id, arr);
    const old = prev[id];
    if (old && pair.t < 1 && mix) mix(v, old, arr, pair.t);
    out[id] = v;
  }
  return out;
}

export function lerp(a, b, t) {
  return a + (b - a) * t;
}

/** Interpolate angles in steps of 1/`steps` turn the short way round (result in [0, steps)). */
export function lerpAngle(a, b, t, steps = 256) {
  let d = (b - a) % steps;
  if (d > steps / 2) d -= steps;
  if (d < -steps / 2) d += steps;
  return (((a + d * t) % steps) + steps) % steps;
}
