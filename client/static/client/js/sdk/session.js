/**
 * One game connection's state machine (SDK), without DOM or sockets
 * (testable in node), generic over a game plug-in (sdk/plugin.js).
 *
 * Feed it decoded server frames with handleFrame(); it keeps the full
 * snapshot (deltas applied with the game's schema, exactly like the engine's
 * codec), the interpolation buffer, the own player's prediction, chat, events,
 * errors, ping and rate stats. nextInput(fields) builds the input frame to
 * send each tick interval and predicts it.
 */
import { applyDelta } from "./schema.js";
import { Predictor } from "./prediction.js";
import { InterpolationBuffer } from "./interpolation.js";

/** On a new connection the first seq jumps past any seq the server may still hold queued. */
export const SEQ_MARGIN = 64;
const MAX_CHAT = 100;

/** The game's apply: its own applySnapshot, or the SDK's schema apply. */
export function snapshotApplier(game) {
  if (typeof game.applySnapshot === "function") return (frame, prev) => game.applySnapshot(frame, prev);
  if (game.schema) return (frame, prev) => applyDelta(game.schema, frame, prev);
  throw new Error(`game ${game.id}: needs a schema or applySnapshot`);
}

export class GameSession {
  /** @param {import("./plugin.js").GamePlugin} game */
  constructor(game, { spectate = false, delayMs = 100 } = {}) {
    this.game = game;
    this.apply = snapshotApplier(game);
    this.spectate = spectate;
    this.config = { ...(game.defaults || {}) };
    this.config.tick_rate ??= 20;
    this.config.snapshot_rate ??= this.config.tick_rate;
    this.predictor = new Predictor(game, this.config);
    this.interp = new InterpolationBuffer({ tickRate: this.config.tick_rate, delayMs });
    this.playerId = null;
    this.room = null;
    this.gameId = game.id;
    this.full = null; // the latest full snapshot (deltas applied)
    this.seq = 0;
    this.seqSynced = false;
    this.lastTick = null;
    this.chat = []; // [{id, from: {id, name}, text, ts}]
    this.events = []; // recent game events, newest last
    this.errors = [];
    this.fresh = { chat: [], deleted: [], events: [], errors: [] }; // not yet shown by the page
    this.pingSent = new Map();
    this.nextPingId = 1;
    this.rtt = null; // ms, smoothed
    this.lastRtt = null;
    this.snapTimes = []; // arrival times within the last second
    this.snapBytes = []; // [time, bytes]
    this.deltaFailures = 0;
    this.needFull = false;
  }

  /** Start over for a new socket of the same page (reconnect): keep seq, stats and chat. */
  resetConnection() {
    this.full = null;
    this.seqSynced = false;
    this.interp.clear();
    this.pingSent.clear();
    this.predictor.pending = [];
  }

  /** Handle one decoded server frame received at nowMs (with its encoded size); returns its type. */
  handleFrame(frame, nowMs, bytes = 0) {
    switch (frame.t) {
      case "welcome":
        this.onWelcome(frame);
        break;
      case "snap":
        this.onSnap(frame, nowMs, bytes);
        break;
      case "pong":
        this.onPong(frame, nowMs);
        break;
      case "chat":
        this.remember("chat", this.chat, { id: frame.id ?? null, from: frame.from || { id: null, name: "?" }, text: String(frame.text ?? ""), ts: frame.ts }, MAX_CHAT);
        break;
      case "chat.deleted": // a moderator removed a room chat line
        this.chat = this.chat.filter((m) => m.id !== frame.id);
        this.fresh.chat = this.fresh.chat.filter((m) => m.id !== frame.id);
        this.fresh.deleted.push(frame.id);
        if (this.fresh.deleted.length > MAX_CHAT) this.fresh.deleted.shift();
        break;
      case "event":
        this.remember("events", this.events, { ...frame, at: nowMs }, 20);
        break;
      case "events": // the runtime batches one tick's events: {t, tick, events: [event...]}
        for (const e of Array.isArray(frame.events) ? frame.events : []) {
          if (e && typeof e === "object") this.remember("events", this.events, { ...e, at: nowMs }, 20);
        }
        break;
      case "error":
        this.remember("errors", this.errors, { code: String(frame.code ?? ""), message: String(frame.message ?? ""), at: nowMs }, 20);
        break;
      default:
        break; // unknown server frames are ignored: the protocol may grow
    }
    return frame.t;
  }

  remember(kind, list, item, max) {
    list.push(item);
    if (list.length > max) list.shift();
    this.fresh[kind].push(item);
    if (this.fresh[kind].length > max) this.fresh[kind].shift();
  }

  /** Items of one kind ("chat", "deleted" chat ids, "events", "errors") received since the last drain. */
  drain(kind) {
    const out = this.fresh[kind];
    this.fresh[kind] = [];
    return out;
  }

  onWelcome(frame) {
    this.playerId = frame.player_id;
    this.room = frame.room;
    if (typeof frame.game === "string") this.gameId = frame.game;
    if (frame.spectator) this.spectate = true;
    const extra = frame.config && typeof frame.config === "object" && !Array.isArray(frame.config) ? frame.config : {};
    const config = { ...this.config, ...extra };
    if (frame.tick_rate > 0) config.tick_rate = frame.tick_rate;
    if (frame.snapshot_rate > 0) config.snapshot_rate = frame.snapshot_rate;
    this.setConfig(config);
    this.interp.setTickRate(this.config.tick_rate);
  }

  setConfig(config) {
    this.config = config;
    this.predictor.setConfig(config);
  }

  onSnap(frame, nowMs, bytes) {
    if (!frame.full && (this.full === null || this.needFull)) {
      this.deltaFailures++;
      return; // a delta without its base: wait for the next full snapshot
    }
    let next;
    try {
      next = this.apply(frame, this.full);
    } catch (err) {
      this.deltaFailures++;
      this.needFull = true;
      return;
    }
    if (frame.full) {
      this.needFull = false;
      if (this.game.configFromSnapshot) this.setConfig(this.game.configFromSnapshot(this.config, next));
    }
    this.full = next;
    this.lastTick = next.tick;
    this.snapTimes.push(nowMs);
    this.snapBytes.push([nowMs, bytes]);
    while (this.snapTimes.length && this.snapTimes[0] < nowMs - 1000) this.snapTimes.shift();
    while (this.snapBytes.length && this.snapBytes[0][0] < nowMs - 1000) this.snapBytes.shift();
    this.interp.push(next, nowMs);
    this.reconcile();
  }

  /** acks[me] of the newest state (-1: none yet, null: not in it). */
  ack() {
    if (this.full === null || this.playerId === null) return null;
    const raw = this.full.acks ? this.full.acks[this.playerId] : undefined;
    return typeof raw === "number" ? raw : null;
  }

  reconcile() {
    const me = this.me();
    if (this.spectate || me === null) return;
    const ack = this.ack() ?? -1;
    if (!this.seqSynced) {
      // A resumed player (reload, reconnect) keeps the server's last seq:
      // continue above it so the engine accepts our inputs.
      this.seq = Math.max(this.seq, ack + 1 + SEQ_MARGIN);
      this.seqSynced = true;
    }
    this.predictor.reconcile(me, ack);
  }

  /** The own player as the newest snapshot has it (game.ownState), or null. */
  me() {
    if (this.full === null || this.playerId === null) return null;
    return this.game.ownState(this.full, this.playerId, this.config) ?? null;
  }

  /** True once inputs may be sent: a player (not spectator) with a snapshot. */
  canSendInput() {
    return !this.spectate && this.seqSynced && this.me() !== null;
  }

  /**
   * The next input frame from the game's input fields (game.input), predicted at
   * once. Games with `lagCompensation` also send `tick`: the tick the player was
   * looking at (the render tick, clamped to the newest snapshot).
   */
  nextInput(fields, renderTick = null) {
    const frame = { t: "input", seq: this.seq++, ...fields };
    if (this.game.lagCompensation && this.lastTick !== null) {
      const seen = renderTick === null ? this.lastTick : Math.floor(renderTick);
      frame.tick = Math.max(0, Math.min(this.lastTick, seen));
    }
    this.predictor.applyInput({ seq: frame.seq, ...fields });
    return frame;
  }

  /** A ping frame; the pong's round trip updates rtt. */
  nextPing(nowMs) {
    const id = this.nextPingId++;
    this.pingSent.set(id, nowMs);
    if (this.pingSent.size > 20) this.pingSent.delete(this.pingSent.keys().next().value);
    return { t: "ping", id };
  }

  onPong(frame, nowMs) {
    const sent = this.pingSent.get(frame.id);
    if (sent === undefined) return;
    this.pingSent.delete(frame.id);
    this.lastRtt = nowMs - sent;
    this.rtt = this.rtt === null ? this.lastRtt : this.rtt * 0.7 + this.lastRtt * 0.3;
  }

  /** Snapshots received in the last second. */
  snapshotRate(nowMs) {
    return this.snapTimes.filter((t) => t >= nowMs - 1000).length;
  }

  /** Snapshot bytes received in the last second. */
  bytesPerSecond(nowMs) {
    let sum = 0;
    for (const [t, b] of this.snapBytes) if (t >= nowMs - 1000) sum += b;
    return sum;
  }

  /** The game's scoreboard of the newest state: {columns: [..], rows: [{id, name, cells: [..]}]}. */
  scoreboard() {
    if (this.full === null || !this.game.scoreboard) return { columns: [], rows: [] };
    return this.game.scoreboard(this.full, this.config);
  }

  /** Seconds left in the current phase (null when open-ended). */
  phaseSecondsLeft() {
    if (this.full === null || !this.full.phase_ends) return null;
    return Math.max(0, (this.full.phase_ends - this.full.tick) / this.config.tick_rate);
  }

  /** Server position {x, y} of a player (for tests and debugging), or null. */
  serverPosition(id) {
    if (this.full === null) return null;
    const own = this.game.ownState(this.full, id, this.config);
    return own ? this.game.ownPosition(own) : null;
  }
}
