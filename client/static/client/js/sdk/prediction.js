/**
 * Client-side prediction of the own player, reconciled against the server's
 * acks (SDK: generic over the game plug-in's rules).
 *
 * Every input sent is applied locally at once with the game's own rule
 * (`game.predict(own, input, config)`, a port of the engine's step for one
 * player) and kept until a snapshot acknowledges it. On each snapshot the
 * prediction restarts from what the snapshot says about the own player
 * (`game.ownState`), completed by `game.resume` with what the snapshot does
 * not carry (e.g. the velocity predicted after the acknowledged input), and
 * replays the inputs the server has not applied yet (seq > acks[me]).
 *
 * The difference between what was on screen and the corrected prediction
 * becomes a visual offset that decays with a ~100 ms time constant; a
 * correction longer than `game.snapDistance`, or a state the game marks
 * `reset: true` (a respawn), is shown at once.
 */

/** Kept unacknowledged inputs at most (the server would never apply older ones). */
export const MAX_PENDING = 128;

export class Predictor {
  /**
   * @param {import("./plugin.js").GamePlugin} game the plug-in (predict, ownPosition, resume?, snapDistance?)
   * @param {object} config the session's config (game defaults + welcome)
   */
  constructor(game, config = {}) {
    this.game = game;
    this.config = config;
    this.state = null; // the game's own-player state after the last input applied
    this.pending = []; // [{seq, ...input fields, after: state}]
    this.offsetX = 0; // visual smoothing of corrections, decays to 0
    this.offsetY = 0;
    this.lastCorrection = 0; // size of the last reconciliation error (game units)
    this.corrections = 0;
  }

  setConfig(config) {
    this.config = config;
  }

  get snapDistance() {
    return this.game.snapDistance ?? Infinity;
  }

  /** Apply an input just sent (before any snapshot arrived it is only kept). */
  applyInput(input) {
    if (this.state !== null) this.state = this.game.predict(this.state, input, this.config);
    this.pending.push({ ...input, after: this.state });
    if (this.pending.length > MAX_PENDING) this.pending.splice(0, this.pending.length - MAX_PENDING);
  }

  /**
   * Restart from the server's state of the own player and replay what it has not applied.
   * server: game.ownState(...) of the newest snapshot; ack: acks[me] (-1: none yet).
   * Returns the prediction error corrected (game units).
   */
  reconcile(server, ack) {
    let acked = null;
    let keep = 0;
    while (keep < this.pending.length && this.pending[keep].seq <= ack) {
      acked = this.pending[keep].after;
      keep++;
    }
    // Nothing pending at all: the current prediction is the state after the last ack.
    if (keep === 0 && this.pending.length === 0) acked = this.state;
    if (keep > 0) this.pending.splice(0, keep);
    const before = this.state;
    let state = this.game.resume ? this.game.resume(server, acked, before) : server;
    for (const entry of this.pending) {
      state = this.game.predict(state, entry, this.config);
      entry.after = state;
    }
    this.state = state;
    let error = 0;
    if (before) {
      const a = this.game.ownPosition(before);
      const b = this.game.ownPosition(state);
      const ex = a.x - b.x;
      const ey = a.y - b.y;
      error = Math.hypot(ex, ey);
      if (error > this.snapDistance || (state && state.reset)) {
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
   * Where to draw the own player now ({x, y} in game units), or null.
   * input: the input that will be sent next; alpha in [0, 1]: how far the
   * current send interval has run. Leaning toward the next step at once makes
   * a key press show within a frame instead of at the next send. frameMs
   * decays the correction offset (time constant ~100 ms).
   */
  renderPosition(input, alpha, frameMs = 16) {
    if (this.state === null) return null;
    let { x, y } = this.game.ownPosition(this.state);
    if (alpha > 0) {
      const next = this.game.ownPosition(this.game.predict(this.state, input, this.config));
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
