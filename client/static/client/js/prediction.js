/**
 * Client-side prediction of the own player, reconciled against the server's acks.
 *
 * Every input sent is applied locally at once with the engine's movement rule
 * (physics.js) and kept until a snapshot acknowledges it. On each snapshot the
 * prediction restarts from the server's position for the own player and
 * replays the inputs the server has not applied yet (seq > acks[me]).
 * Snapshots carry no velocity, so the replay starts from the velocity this
 * client had predicted after the acknowledged input: the engine's movement is
 * deterministic, so that is the server's velocity whenever the prediction
 * was right, and a wrong guess is corrected by the next snapshots anyway.
 */
import { movePlayer } from "./physics.js";

/** Kept unacknowledged inputs at most (the server would never apply older ones). */
export const MAX_PENDING = 128;
/** A correction larger than this (world units) is a teleport (respawn): no smoothing. */
export const SNAP_DISTANCE = 48;

export class Predictor {
  /** @param derived physics constants from physics.derive() */
  constructor(derived) {
    this.d = derived;
    this.state = null; // {x, y, vx, vy} after the last input applied
    this.pending = []; // [{seq, mx, my, aim, fire, after: state}]
    this.alive = false;
    this.boosted = false;
    this.canMove = true; // false while the match is in a phase without movement
    this.offsetX = 0; // visual smoothing of corrections, decays to 0
    this.offsetY = 0;
    this.lastCorrection = 0; // size of the last reconciliation error, world units
    this.corrections = 0;
  }

  setDerived(derived) {
    this.d = derived;
  }

  /** Apply an input just sent (before any snapshot arrived it is only kept). */
  applyInput(input) {
    if (this.state !== null && this.alive && this.canMove) {
      this.state = movePlayer(this.state, input, this.boosted, this.d);
    }
    this.pending.push({ ...input, after: this.state });
    if (this.pending.length > MAX_PENDING) this.pending.splice(0, this.pending.length - MAX_PENDING);
  }

  /**
   * Reset to the server's state for the own player and replay the inputs it has not applied.
   * server: {x, y, alive, boosted} in world units; ack: acks[me] (-1: none yet).
   * canMove: whether the snapshot's phase moves players (all but "ended").
   * Returns the prediction error corrected (world units).
   */
  reconcile(server, ack, canMove = true) {
    let vx = 0;
    let vy = 0;
    let acked = null;
    let keep = 0;
    while (keep < this.pending.length && this.pending[keep].seq <= ack) {
      acked = this.pending[keep];
      keep++;
    }
    if (acked && acked.after) {
      vx = acked.after.vx;
      vy = acked.after.vy;
    } else if (this.state && keep === 0 && this.pending.length === 0) {
      vx = this.state.vx;
      vy = this.state.vy;
    }
    if (keep > 0) this.pending.splice(0, keep);
    const respawned = server.alive && !this.alive;
    if (!server.alive || respawned) {
      vx = 0;
      vy = 0;
    }
    this.alive = server.alive;
    this.boosted = server.boosted;
    this.canMove = canMove;
    const before = this.state;
    let state = { x: server.x, y: server.y, vx, vy };
    for (const entry of this.pending) {
      if (this.alive && this.canMove) state = movePlayer(state, entry, this.boosted, this.d);
      entry.after = state;
    }
    this.state = state;
    let error = 0;
    if (before) {
      const ex = before.x - state.x;
      const ey = before.y - state.y;
      error = Math.hypot(ex, ey);
      if (error > SNAP_DISTANCE || respawned) {
        this.offsetX = 0;
        this.offsetY = 0;
      } else {
        // Keep what was on screen, then let the offset decay: no visible jump.
        this.offsetX += ex;
        this.offsetY += ey;
      }
    }
    this.lastCorrection = error;
    if (error > 0.01) this.corrections++;
    return error;
  }

  /**
   * Where to draw the own player now.
   * stick: the input that will be sent next; alpha in [0, 1]: how far the
   * current tick interval has run. Moving towards the next step at once makes
   * a key press show within a frame instead of at the next send.
   * frameMs decays the correction offset (time constant ~100 ms).
   */
  renderPosition(stick, alpha, frameMs = 16) {
    if (this.state === null) return null;
    let { x, y } = this.state;
    if (this.alive && this.canMove && alpha > 0) {
      const next = movePlayer(this.state, stick, this.boosted, this.d);
      const a = Math.min(1, alpha);
      x += (next.x - x) * a;
      y += (next.y - y) * a;
    }
    const decay = Math.exp(-Math.max(0, frameMs) / 100);
    this.offsetX *= decay;
    this.offsetY *= decay;
    if (Math.abs(this.offsetX) < 0.01) this.offsetX = 0;
    if (Math.abs(this.offsetY) < 0.01) this.offsetY = 0;
    return { x: x + this.offsetX, y: y + this.offsetY };
  }
}
