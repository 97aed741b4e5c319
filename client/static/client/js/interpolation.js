/**
 * Interpolation of the other entities, drawn ~100 ms in the past.
 *
 * Snapshots are kept with their tick. A local estimate of the server's tick
 * clock (arrival time minus tick * tick interval, smoothed) turns "now" into a
 * render tick `delay` ms behind the newest information, and each other
 * player is drawn between the two snapshots around that tick. No
 * extrapolation: past the newest snapshot the newest position holds.
 */
import { P_X, P_Y, P_AIM, AIM_STEPS, unqPos, unqAim, playerView } from "./codec.js";

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

  /** Add a full snapshot (after the delta was applied) that arrived at nowMs. */
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
   * Players at `tick`: {id: playerView + interpolated x, y, aim}.
   * Players that appear only in the later snapshot are shown from it.
   */
  playersAt(tick) {
    const n = this.snaps.length;
    if (n === 0) return {};
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
    const out = {};
    for (const [id, pb] of Object.entries(b.snap.players || {})) {
      const view = playerView(id, pb);
      const pa = a.snap.players ? a.snap.players[id] : undefined;
      if (pa && t < 1) {
        // A jump of more than 64 units in one interval is a respawn: no sliding.
        const far = Math.abs(pb[P_X] - pa[P_X]) > 64 * 8 || Math.abs(pb[P_Y] - pa[P_Y]) > 64 * 8;
        if (!far) {
          view.x = unqPos(lerp(pa[P_X], pb[P_X], t));
          view.y = unqPos(lerp(pa[P_Y], pb[P_Y], t));
          view.aim = unqAim(lerpAngle(pa[P_AIM], pb[P_AIM], t));
        }
      }
      out[id] = view;
    }
    return out;
  }
}

export function lerp(a, b, t) {
  return a + (b - a) * t;
}

/** Interpolate wire angles (1/256 turn) the short way round. */
export function lerpAngle(a, b, t) {
  let d = (b - a) % AIM_STEPS;
  if (d > AIM_STEPS / 2) d -= AIM_STEPS;
  if (d < -AIM_STEPS / 2) d += AIM_STEPS;
  return (((a + d * t) % AIM_STEPS) + AIM_STEPS) % AIM_STEPS;
}
