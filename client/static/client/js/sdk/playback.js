/**
 * Replay playback (SDK), without DOM: the timeline of a playback document
 * (docs/protocol.md "Replay document"), seeking, speeds and the keyboard map
 * of the replay page. Testable in node.
 *
 * A document holds `frames` (live `snap` maps: full at the indexes in
 * `keyframes`, deltas against the frame before otherwise) and `events`.
 * `stateAt(i)` is the full state of frame i: from the last keyframe at or
 * before i, the deltas after it applied in order (or from the state it
 * computed last, when that lies between the keyframe and i, so playing
 * forward applies one delta per frame). The playhead is a (fractional) tick;
 * `advance(ms)` moves it at `speed` × real time while playing.
 *
 * Also the page's pure parts: the key map (keyAction), the camera that
 * follows a player (cameraLayout) and the messages for failed loads.
 */

/** The speeds offered, slowest first (× real time). */
export const SPEEDS = Object.freeze([0.25, 0.5, 1, 2, 4]);
/** Seconds the arrow keys seek. */
export const SEEK_SECONDS = 5;

/** Zoom of the camera on a followed player (1 = the whole map). */
export const FOLLOW_ZOOM = 1.75;

/** A document this viewer cannot play. */
export class DocumentError extends Error {}

/** Throws DocumentError unless `doc` looks like a version-1 replay document. */
export function checkDocument(doc) {
  if (!doc || typeof doc !== "object" || doc.t !== "replay") throw new DocumentError("not a replay document");
  if (doc.v !== 1) throw new DocumentError(`replay document version ${doc.v} is not supported: reload, or update the client`);
  const frames = doc.frames;
  if (!Array.isArray(frames) || frames.length === 0) throw new DocumentError("the replay has no frames");
  if (!Array.isArray(doc.keyframes) || doc.keyframes[0] !== 0 || !frames[0].full) throw new DocumentError("the replay does not start with a keyframe");
  if (!(doc.tick_rate > 0)) throw new DocumentError("the replay has no tick rate");
  return doc;
}

/** The last index i of ascending `values` with values[i] <= x (0 if none). */
export function lastAtOrBefore(values, x) {
  let lo = 0;
  let hi = values.length - 1;
  if (hi < 0 || values[0] > x) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (values[mid] <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** "m:ss" of a number of seconds (never negative). */
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class Playback {
  /**
   * @param {object} doc  a replay document (checkDocument)
   * @param {(frame: object, prev: object|null) => object} apply  the game's snapshot apply (sdk/session.js snapshotApplier)
   */
  constructor(doc, apply) {
    this.doc = checkDocument(doc);
    this.apply = apply;
    this.frames = doc.frames;
    this.ticks = doc.frames.map((f) => f.tick);
    this.keyframes = doc.keyframes;
    this.events = Array.isArray(doc.events) ? doc.events : [];
    this.tickRate = doc.tick_rate;
    this.firstTick = this.ticks[0];
    this.lastTick = this.ticks[this.ticks.length - 1];
    this.tick = this.firstTick;
    this.playing = false;
    this.speed = 1;
    this.cache = null; // {index, state}: the last state computed
    this.pairMemo = null; // {index, a, b}
    this.lastSeek = { keyframe: 0, applied: 0 }; // how the last stateAt got there
  }

  /** Index of the frame shown at `tick`: the last one at or before it. */
  indexAt(tick) {
    return lastAtOrBefore(this.ticks, tick);
  }

  /** The last keyframe index at or before frame `index`. */
  keyframeFor(index) {
    return this.keyframes[lastAtOrBefore(this.keyframes, index)];
  }

  /** The full state of frame `index` (see the module comment). */
  stateAt(index) {
    const i = Math.max(0, Math.min(this.frames.length - 1, index));
    const key = this.keyframeFor(i);
    let from;
    let state;
    if (this.cache && this.cache.index >= key && this.cache.index <= i) {
      from = this.cache.index;
      state = this.cache.state;
    } else {
      from = key;
      state = this.apply(this.frames[key], null);
    }
    for (let j = from + 1; j <= i; j++) state = this.apply(this.frames[j], state);
    this.cache = { index: i, state };
    this.lastSeek = { keyframe: key, applied: i - from };
    return state;
  }

  /** The state shown at the playhead. */
  current() {
    return this.stateAt(this.indexAt(this.tick));
  }

  /**
   * The states around the playhead for interpolation, shaped like
   * InterpolationBuffer.bracket: {a, b, t, tick, newest}.
   */
  bracket() {
    const i = this.indexAt(this.tick);
    let memo = this.pairMemo;
    if (!memo || memo.index !== i) {
      const a = memo && memo.index + 1 === i ? memo.b : this.stateAt(i);
      const b = i + 1 < this.frames.length ? this.apply(this.frames[i + 1], a) : a;
      memo = this.pairMemo = { index: i, a, b };
    }
    const span = memo.b.tick - memo.a.tick;
    const t = span > 0 ? Math.min(1, Math.max(0, (this.tick - memo.a.tick) / span)) : 1;
    return { a: memo.a, b: memo.b, t, tick: this.tick, newest: memo.b };
  }

  /** Move the playhead to `tick` (clamped to the replay); returns the tick. */
  seek(tick) {
    const n = Number(tick);
    this.tick = Math.max(this.firstTick, Math.min(this.lastTick, Number.isFinite(n) ? n : this.firstTick));
    return this.tick;
  }

  /** Seek by a number of seconds (negative: back). */
  seekBy(seconds) {
    return this.seek(this.tick + seconds * this.tickRate);
  }

  /** Seek to the frame `delta` frames from the one shown (one step back or forward). */
  stepFrames(delta) {
    const i = Math.max(0, Math.min(this.frames.length - 1, this.indexAt(this.tick) + delta));
    return this.seek(this.ticks[i]);
  }

  /** Advance the playhead by `ms` of real time if playing; stops at the end. */
  advance(ms) {
    if (!this.playing) return this.tick;
    this.seek(this.tick + (Math.max(0, ms) / 1000) * this.tickRate * this.speed);
    if (this.tick >= this.lastTick) this.playing = false;
    return this.tick;
  }

  /** Play or pause; playing at the end starts over. Returns `playing`. */
  toggle() {
    if (!this.playing && this.tick >= this.lastTick) this.seek(this.firstTick);
    this.playing = !this.playing;
    return this.playing;
  }

  /** Set one of SPEEDS (anything else is ignored); returns the speed. */
  setSpeed(speed) {
    if (SPEEDS.includes(Number(speed))) this.speed = Number(speed);
    return this.speed;
  }

  /** The next speed up (+1) or down (-1), staying within SPEEDS. */
  stepSpeed(direction) {
    const i = SPEEDS.indexOf(this.speed);
    return this.setSpeed(SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, i + Math.sign(direction)))]);
  }

  /** Seconds from the first frame to `tick` (default: the playhead). */
  seconds(tick = this.tick) {
    return (tick - this.firstTick) / this.tickRate;
  }

  /** Length of the replay in seconds. */
  duration() {
    return this.seconds(this.lastTick);
  }

  /** The events that had happened by `tick` (default: the playhead), in order. */
  eventsUntil(tick = this.tick) {
    return this.events.filter((e) => e && typeof e.tick === "number" && e.tick <= tick);
  }

  /**
   * The feed at the playhead: the last `max` events up to it that
   * `describe(event)` turns into a line ("" = not shown), oldest first.
   */
  feed(describe, max = 6) {
    const lines = [];
    const past = this.eventsUntil();
    for (let i = past.length - 1; i >= 0 && lines.length < max; i--) {
      const text = describe(past[i]);
      if (text) lines.push({ tick: past[i].tick, text });
    }
    return lines.reverse();
  }
}

/**
 * What a key press does on the replay page, or null: Space play/pause,
 * arrows seek SEEK_SECONDS (with Shift one frame), Home/End, 1-5 a speed of
 * SPEEDS, [ and ] slower and faster, F the next player to follow.
 * `ev` is a KeyboardEvent-like {key, code, shiftKey}.
 */
export function keyAction(ev) {
  const digit = /^Digit([1-9])$/.exec(ev.code || "");
  if (digit && Number(digit[1]) <= SPEEDS.length) return { type: "speed", speed: SPEEDS[Number(digit[1]) - 1] };
  switch (ev.key) {
    case " ":
      return { type: "toggle" };
    case "ArrowLeft":
      return ev.shiftKey ? { type: "frame", delta: -1 } : { type: "seek", seconds: -SEEK_SECONDS };
    case "ArrowRight":
      return ev.shiftKey ? { type: "frame", delta: 1 } : { type: "seek", seconds: SEEK_SECONDS };
    case "Home":
      return { type: "start" };
    case "End":
      return { type: "end" };
    case "[":
      return { type: "slower" };
    case "]":
      return { type: "faster" };
    case "f":
    case "F":
      return { type: "follow" };
    default:
      return null;
  }
}

/** A failed load as the message the page shows. */
export function loadMessage(status, matchId) {
  switch (status) {
    case 0:
      return "The server cannot be reached: check the connection, then reload the page.";
    case 401:
      return "Log in to watch this replay: pick a name in the lobby, then come back.";
    case 403:
      return "This replay is of a private room: only its players and staff may watch it.";
    case 404:
      return `There is no replay of match ${matchId}: the match does not exist, or its recording is no longer kept.`;
    default:
      return `The replay could not be loaded (HTTP ${status}). Try again later.`;
  }
}

/** Canvas layout: the whole map, or zoomed on `focus` (kept inside the map). */
export function cameraLayout(size, extent, focus, zoom = FOLLOW_ZOOM) {
  const base = Math.min(size.w / extent.w, size.h / extent.h);
  if (!focus) return { scale: base, ox: (size.w - extent.w * base) / 2, oy: (size.h - extent.h * base) / 2 };
  const scale = base * zoom;
  const axis = (view, span, at) => {
    const total = span * scale;
    if (total <= view) return (view - total) / 2;
    return Math.min(0, Math.max(view - total, view / 2 - at * scale));
  };
  return { scale, ox: axis(size.w, extent.w, focus.x), oy: axis(size.h, extent.h, focus.y) };
}


/** The replay page of a `GET /api/matches` entry, or null when it has no replay. */
export function replayPageUrl(match) {
  if (!match || match.replay === null || match.replay === undefined || match.replay === "") return null;
  const id = Number(match.id);
  return Number.isSafeInteger(id) && id > 0 ? `/replay/${id}/` : null;
}

/**
 * The `GET /api/matches` entry of the match that just ended in `room` with
 * these `match_end` results (the same players with the same scores), newest
 * first; null if not listed (yet).
 */
export function findEndedMatch(matches, room, results) {
  const key = (rows, id) => JSON.stringify(rows.map((r) => [Number(r[id]), r.score]).sort((a, b) => a[0] - b[0]));
  const want = key(results || [], "player_id");
  return (matches || []).find((m) => m && m.room === room && key(m.players || [], "user_id") === want) || null;
}
