/**
 * One game connection's logic, without DOM or sockets (testable in node).
 *
 * Feed it decoded server frames with handleFrame(); it keeps the full
 * snapshot (applying deltas exactly like engine.codec.apply), the
 * interpolation buffer, the own player's prediction, ping and rate stats.
 * nextInput() builds the input frame to send each tick interval.
 */
import { applySnapshot, playerView, P_X, P_Y } from "./codec.js";
import { derive, configWithMap, DEFAULT_CONFIG } from "./physics.js";
import { Predictor } from "./prediction.js";
import { InterpolationBuffer } from "./interpolation.js";

/** On a new connection the first seq jumps past any seq the server may still hold queued. */
export const SEQ_MARGIN = 64;
const MAX_CHAT = 100;

export class GameSession {
  constructor({ spectate = false, delayMs = 100 } = {}) {
    this.spectate = spectate;
    this.config = { ...DEFAULT_CONFIG };
    this.derived = derive(this.config);
    this.predictor = new Predictor(this.derived);
    this.interp = new InterpolationBuffer({ tickRate: this.config.tick_rate, delayMs });
    this.playerId = null;
    this.room = null;
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

  /** Handle one decoded server frame received at nowMs (with its encoded size). */
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
    if (frame.spectator) this.spectate = true;
    const extra = frame.config && typeof frame.config === "object" ? frame.config : {};
    this.config = { ...this.config, ...extra };
    if (frame.tick_rate) this.config.tick_rate = frame.tick_rate;
    if (frame.snapshot_rate) this.config.snapshot_rate = frame.snapshot_rate;
    this.rederive();
    this.interp.setTickRate(this.config.tick_rate);
  }

  rederive() {
    this.derived = derive(this.config);
    this.predictor.setDerived(this.derived);
  }

  onSnap(frame, nowMs, bytes) {
    if (!frame.full && (this.full === null || this.needFull)) {
      this.deltaFailures++;
      return; // a delta without its base: wait for the next full snapshot
    }
    let next;
    try {
      next = applySnapshot(frame, this.full);
    } catch (err) {
      this.deltaFailures++;
      this.needFull = true;
      return;
    }
    if (frame.full) this.needFull = false;
    if (frame.full && frame.map) {
      this.config = configWithMap(this.config, frame.map);
      this.rederive();
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

  reconcile() {
    const me = this.me();
    if (this.spectate || me === null) return;
    const ackRaw = this.full.acks ? this.full.acks[this.playerId] : undefined;
    const ack = typeof ackRaw === "number" ? ackRaw : -1;
    if (!this.seqSynced) {
      // A resumed player (reload, reconnect) keeps the server's last seq:
      // continue above it so the engine accepts our inputs.
      this.seq = Math.max(this.seq, ack + 1 + SEQ_MARGIN);
      this.seqSynced = true;
    }
    const canMove = this.full.phase !== "ended";
    this.predictor.reconcile({ x: me.x, y: me.y, alive: me.alive, boosted: me.boost }, ack, canMove);
  }

  /** The own player as the server last saw it (playerView) or null. */
  me() {
    if (this.full === null || this.playerId === null) return null;
    const arr = this.full.players ? this.full.players[this.playerId] : undefined;
    return arr ? playerView(this.playerId, arr) : null;
  }

  /** True once inputs may be sent: a player (not spectator) with a snapshot. */
  canSendInput() {
    return !this.spectate && this.seqSynced && this.me() !== null;
  }

  /** Build (and predict) the next input frame from the current intent. */
  nextInput({ mx, my, aim, fire }, renderTick = null) {
    const frame = { t: "input", seq: this.seq++, mx: clamp(mx, -1, 1), my: clamp(my, -1, 1), aim: normAim(aim), fire: Boolean(fire) };
    if (this.lastTick !== null) {
      // The tick this player was seeing: others are drawn at the render tick.
      const seen = renderTick === null ? this.lastTick : Math.floor(renderTick);
      frame.tick = Math.max(0, Math.min(this.lastTick, seen));
    }
    this.predictor.applyInput({ seq: frame.seq, mx: frame.mx, my: frame.my, aim: frame.aim, fire: frame.fire });
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

  /** Scoreboard rows sorted like the engine's results: score desc, deaths asc, id asc. */
  scoreboard() {
    if (this.full === null) return [];
    return Object.entries(this.full.players || {})
      .map(([id, arr]) => playerView(id, arr))
      .sort((a, b) => b.score - a.score || a.deaths - b.deaths || a.id - b.id);
  }

  /** Seconds left in the current phase (null when open-ended). */
  phaseSecondsLeft() {
    if (this.full === null || !this.full.phase_ends) return null;
    return Math.max(0, (this.full.phase_ends - this.full.tick) / this.config.tick_rate);
  }

  /** Server position of a player in world units (for tests and debugging). */
  serverPosition(id) {
    const arr = this.full && this.full.players ? this.full.players[id] : undefined;
    return arr ? { x: arr[P_X] / 8, y: arr[P_Y] / 8 } : null;
  }
}

function clamp(v, lo, hi) {
  const n = Number(v);
  if (!Number.isFinite(n)) return 0;
  return Math.min(hi, Math.max(lo, n));
}

/** Radians into [-pi, pi] (the engine accepts [-2pi, 2pi]). */
export function normAim(a) {
  const n = Number(a);
  if (!Number.isFinite(n)) return 0;
  return Math.atan2(Math.sin(n), Math.cos(n));
}
