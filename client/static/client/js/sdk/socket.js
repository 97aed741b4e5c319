/**
 * The game socket (SDK): msgpack binary frames, an optional artificial lag for
 * tests (?lag=ms delays every send and every receive by that much), and
 * the reconnect policy for close codes.
 */
import { decodeFrame, encodeFrame } from "./frames.js";

/** What each close code means for the player, and whether to reconnect. */
export const CLOSE_CODES = Object.freeze({
  1000: { reconnect: false, message: "Disconnected." },
  1009: { reconnect: false, message: "The server refused a frame that was too big." },
  1012: { reconnect: true, message: "The server is restarting: reconnecting…" },
  1013: { reconnect: true, message: "The server is busy: trying again…" },
  4001: { reconnect: false, message: "You are not logged in. Pick a name in the lobby first." },
  4003: { reconnect: false, message: "You cannot join this room: it is full or private (an invite link is needed)." },
  4004: { reconnect: false, message: "This room is gone or closed." },
  4008: { reconnect: false, message: "Disconnected for sending too many messages." },
  4009: { reconnect: true, message: "The connection was too slow: reconnecting…" },
  4010: { reconnect: false, message: "You joined this room from another tab or window." },
  4011: { reconnect: false, message: "You were removed from the room." },
});

/** Close code -> {reconnect, message}; unknown codes (1006 drops...) reconnect. */
export function closeInfo(code) {
  return CLOSE_CODES[code] || { reconnect: true, message: "Connection lost: reconnecting…" };
}

/** Reconnect delay in ms for the n-th consecutive attempt (0-based): 0.5 s doubling to 8 s, ±20 % jitter. */
export function backoffMs(attempt, random = Math.random) {
  const base = Math.min(8000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** ws(s)://host/ws/game/<room>/ with spectate and invite as given. */
export function gameSocketUrl(location, room, { spectate = false, invite = null } = {}) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams();
  if (spectate) params.set("spectate", "1");
  if (invite) params.set("invite", invite);
  const query = params.toString();
  return `${scheme}//${location.host}/ws/game/${encodeURIComponent(room)}/${query ? "?" + query : ""}`;
}

/**
 * One WebSocket with msgpack frames. Callbacks: onOpen(), onFrame(obj, bytes),
 * onClose(code, reason), onBadFrame(err). lagMs delays both directions.
 */
export class FrameSocket {
  constructor(url, { lagMs = 0, WebSocketImpl = globalThis.WebSocket } = {}) {
    this.lagMs = Math.max(0, Number(lagMs) || 0);
    this.ws = new WebSocketImpl(url);
    this.ws.binaryType = "arraybuffer";
    this.onOpen = () => {};
    this.onFrame = () => {};
    this.onClose = () => {};
    this.onBadFrame = () => {};
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.ws.onopen = () => this.later(() => this.onOpen());
    this.ws.onmessage = (ev) => this.later(() => this.receive(ev.data));
    this.ws.onclose = (ev) => this.later(() => this.onClose(ev.code, ev.reason));
  }

  later(fn) {
    if (this.lagMs > 0) setTimeout(fn, this.lagMs);
    else fn();
  }

  receive(data) {
    if (typeof data === "string") {
      this.onBadFrame(new TypeError("text frame on the game socket"));
      return;
    }
    const bytes = new Uint8Array(data);
    this.bytesIn += bytes.byteLength;
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.onBadFrame(err);
      return;
    }
    this.onFrame(frame, bytes.byteLength);
  }

  /** Send one frame (dropped silently once the socket is not open). */
  send(frame) {
    const bytes = encodeFrame(frame);
    this.bytesOut += bytes.byteLength;
    const go = () => {
      if (this.ws.readyState === 1) this.ws.send(bytes);
    };
    this.later(go);
  }

  close(code = 1000) {
    try {
      this.ws.close(code);
    } catch {
      // already closed
    }
  }
}
