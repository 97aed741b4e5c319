/**
 * The play page /play/<room>/: the SDK's runner for any game. It opens the
 * game socket, loads the game's client module named by `welcome.game` (from
 * the fixed map in games/index.js; missing = the arena, unknown = a message),
 * then drives the session: keys and pointer into the game's inputs at the
 * tick rate, prediction, interpolation, canvas rendering at the display's
 * frame rate through the game's `render`, HUD, scoreboard, room chat, event
 * feed, net graph (N), reconnects.
 *
 * Test hooks in the page URL: ?spectate=1 (spectator), ?invite=<code>
 * (private rooms), ?lag=<ms> (delay every game-socket send and receive by
 * that much). window.__arena is a read-only view for browser tests.
 */
import { api, currentSession, guestLogin } from "./api.js";
import { el, replace, clock, appendScrolled, say, fitCanvas } from "./dom.js";
import { GameSession } from "./sdk/session.js";
import { FrameSocket, closeInfo, backoffMs, gameSocketUrl } from "./sdk/socket.js";
import { NetGraph, fmtMs } from "./sdk/netgraph.js";
import { loadGame, gameIdOf } from "./games/index.js";
import { findEndedMatch, replayPageUrl } from "./sdk/playback.js";

const root = document.getElementById("game");
const ROOM = JSON.parse(document.getElementById("room-data").textContent).room;
const params = new URLSearchParams(location.search);
const SPECTATE = ["1", "true", "yes"].includes(params.get("spectate") || "");
const INVITE = params.get("invite");
const LAG = Math.max(0, Math.min(2000, Number(params.get("lag")) || 0));

const canvas = document.getElementById("game-canvas");
const ctx = canvas.getContext("2d");
const statusBox = document.getElementById("status");
const scoreHead = document.getElementById("scoreboard-head");
const scoreBody = document.getElementById("scoreboard-body");
const phaseText = document.getElementById("phase");
const timerText = document.getElementById("timer");
const pingText = document.getElementById("ping");
const rateText = document.getElementById("snaprate");
const gameName = document.getElementById("game-name");
const controlsList = document.getElementById("controls-list");
const netGraphNote = document.getElementById("netgraph");
const chatLog = document.getElementById("chat-log");
const chatForm = document.getElementById("chat-form");
const chatInput = document.getElementById("chat-text");
const loginForm = document.getElementById("login-form");
const feed = document.getElementById("feed");

let game = null; // the loaded plug-in
let session = null; // its GameSession (kept over reconnects)
let queued = null; // frames that arrived while the game module loads
let socket = null;
let attempts = 0;
let stopped = false;
let connected = false;
let lastClose = null;
let reconnectTimer = null;
let inputTimer = null;
let pingTimer = null;
let lastSendAt = 0;
let frames = 0;
let lastFrameAt = performance.now();
let ownRendered = null;
let view = null;
let renderTickNow = 0;
let layout = { scale: 1, ox: 0, oy: 0, w: 0, h: 0 };
let currentInput = null;
let results = []; // the last match_end's results
let columnsShown = "";
let lastSnapArrival = null;
const netGraph = new NetGraph();

// -- input state ---------------------------------------------------------------

const keys = new Set();
let pointerPx = null; // canvas CSS-pixel position of the pointer, or null
let pointerDown = false;

function typing(ev) {
  const t = ev.target;
  return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT", "BUTTON"].includes(t.tagName));
}

document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && document.activeElement === chatInput) {
    chatInput.blur();
    canvas.focus();
    return;
  }
  if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (game && game.keys.includes(ev.code)) {
    keys.add(ev.code);
    ev.preventDefault();
    if ((game.pointerReleaseKeys || []).includes(ev.code)) pointerPx = null; // keyboard aim takes over
  } else if (ev.code === "KeyN" && !ev.repeat) {
    toggleNetGraph();
  } else if (ev.key === "Enter") {
    chatInput.focus();
    ev.preventDefault();
  }
});
document.addEventListener("keyup", (ev) => keys.delete(ev.code));
window.addEventListener("blur", () => {
  keys.clear();
  pointerDown = false;
});
canvas.addEventListener("mousemove", (ev) => {
  const rect = canvas.getBoundingClientRect();
  pointerPx = { x: ev.clientX - rect.left, y: ev.clientY - rect.top };
});
canvas.addEventListener("mousedown", (ev) => {
  if (ev.button === 0) pointerDown = true;
  canvas.focus();
});
window.addEventListener("mouseup", () => {
  pointerDown = false;
});
canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());

/** The controls as the game's `input` sees them (pointer in game units). */
function controls(frameMs) {
  const pointer = pointerPx && layout.scale > 0 ? { x: (pointerPx.x - layout.ox) / layout.scale, y: (pointerPx.y - layout.oy) / layout.scale } : null;
  return { keys, pointer, pointerDown, frameMs };
}

function updateInput(frameMs) {
  if (!game || !session) return;
  currentInput = game.input(controls(frameMs), currentInput, session.predictor.state, session.config);
}

// -- the game module -------------------------------------------------------------------

/** Show the game's name, controls and canvas label (all as text). */
function presentGame() {
  document.title = `${game.name}: ${ROOM}`;
  gameName.textContent = game.name;
  root.dataset.game = game.id;
  canvas.setAttribute("aria-label", game.canvasLabel);
  const lines = [
    ...game.controls,
    ["Enter", "chat, Esc: back to the game"],
    ["N", "net graph"],
  ].map(([k, what]) => el("li", {}, el("kbd", { text: k }), `: ${what}`));
  replace(controlsList, ...lines);
}

/** A welcome for a game not loaded yet: hold the frames, load the module, then replay them. */
function switchGame(welcome, bytes, now) {
  const id = gameIdOf(welcome);
  queued = [[welcome, bytes, now]];
  const mine = socket;
  loadGame(id).then(
    (plugin) => {
      if (mine !== socket) return;
      game = plugin;
      session = new GameSession(game, { spectate: SPECTATE });
      currentInput = null;
      columnsShown = "";
      presentGame();
      const held = queued;
      queued = null;
      for (const [f, b, t] of held) handle(f, b, t);
    },
    (err) => {
      queued = null;
      stopped = true;
      say(statusBox, err.message, "error");
      root.dataset.gameError = "1";
      if (socket) socket.close(1000);
    },
  );
}

// -- connection --------------------------------------------------------------------

function connect() {
  clearTimeout(reconnectTimer);
  if (session) session.resetConnection();
  queued = null;
  const url = gameSocketUrl(location, ROOM, { spectate: SPECTATE, invite: INVITE });
  socket = new FrameSocket(url, { lagMs: LAG });
  const mine = socket;
  socket.onOpen = () => {
    if (mine !== socket) return;
    connected = true;
  };
  socket.onFrame = (frame, bytes) => {
    if (mine !== socket) return;
    const now = performance.now();
    if (queued) {
      queued.push([frame, bytes, now]);
    } else if (frame.t === "welcome" && (!game || game.id !== gameIdOf(frame))) {
      switchGame(frame, bytes, now);
    } else if (session) {
      handle(frame, bytes, now);
    }
  };
  socket.onBadFrame = () => {};
  socket.onClose = (code) => {
    if (mine !== socket) return;
    connected = false;
    lastClose = code;
    stopTimers();
    if (stopped && root.dataset.gameError) return; // the unknown-game message stays
    const info = closeInfo(code);
    const errors = session ? session.errors : [];
    const last = errors[errors.length - 1];
    const detail = last && !info.reconnect ? ` (${last.message})` : "";
    if (!info.reconnect || stopped) {
      say(statusBox, info.message + detail, "error");
      return;
    }
    const delay = backoffMs(attempts++);
    say(statusBox, `${info.message} (in ${(delay / 1000).toFixed(1)} s)`, "warn");
    reconnectTimer = setTimeout(connect, delay);
  };
}

function handle(frame, bytes, now) {
  const kind = session.handleFrame(frame, now, bytes);
  if (kind === "welcome") {
    attempts = 0;
    say(statusBox, SPECTATE || session.spectate ? "Spectating." : "", "info");
    startTimers();
  } else if (kind === "snap") {
    if (lastSnapArrival !== null) {
      netGraph.record({ t: now, interval: now - lastSnapArrival, bytes, rtt: session.lastRtt, correction: session.predictor.lastCorrection });
    }
    lastSnapArrival = now;
  }
}

function startTimers() {
  stopTimers();
  inputTimer = setInterval(sendInput, 1000 / session.config.tick_rate);
  pingTimer = setInterval(sendPing, 1000);
  sendPing();
}

function stopTimers() {
  clearInterval(inputTimer);
  clearInterval(pingTimer);
  inputTimer = pingTimer = null;
}

function sendInput() {
  if (!socket || !connected || !session || !session.canSendInput()) return;
  updateInput(0); // keys pressed since the last frame count now
  socket.send(session.nextInput(currentInput, renderTickNow));
  lastSendAt = performance.now();
}

function sendPing() {
  if (socket && connected && session) socket.send(session.nextPing(performance.now()));
}

chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = chatInput.value.trim();
  if (!text || !socket || !connected) return;
  socket.send({ t: "chat", text: text.slice(0, 200) });
  chatInput.value = "";
});

// -- rendering ------------------------------------------------------------------------

function frame(now) {
  const frameMs = now - lastFrameAt;
  lastFrameAt = now;
  frames++;
  const size = fitCanvas(canvas, ctx);
  ctx.fillStyle = "#101418";
  ctx.fillRect(0, 0, size.w, size.h);
  if (game && session) {
    updateInput(frameMs);
    const c = session.config;
    const extent = game.size(c);
    const scale = Math.min(size.w / extent.w, size.h / extent.h);
    layout = { scale, ox: (size.w - extent.w * scale) / 2, oy: (size.h - extent.h * scale) / 2, w: size.w, h: size.h };
    renderTickNow = session.interp.renderTick(now);
    const alpha = lastSendAt ? Math.min(1, (now - lastSendAt) / (1000 / c.tick_rate)) : 0;
    const me = session.playerId;
    ownRendered = null;
    if (!session.spectate && me !== null && session.predictor.state) {
      ownRendered = session.predictor.renderPosition(currentInput, alpha, frameMs);
    }
    const pair = session.interp.bracket(renderTickNow);
    view = pair ? game.interpolate(pair, c) : null;
    if (view) {
      ctx.save();
      ctx.translate(layout.ox, layout.oy);
      ctx.scale(scale, scale);
      game.render(ctx, {
        view, own: ownRendered, ownState: session.spectate ? null : session.predictor.state, input: currentInput,
        full: session.full, me: session.spectate ? null : me, tick: renderTickNow, scale, config: c, results,
      });
      ctx.restore();
    }
    if (netGraph.visible) {
      netGraph.draw(ctx, size, {
        snapshotRate: c.snapshot_rate, rate: session.snapshotRate(now), bytesPerSecond: session.bytesPerSecond(now),
        rtt: session.rtt, pending: session.predictor.pending.length,
      });
    }
  }
  if (frames % 6 === 0) updateHud(now);
  requestAnimationFrame(frame);
}

function toggleNetGraph() {
  const on = netGraph.toggle();
  netGraphNote.textContent = on ? "Net graph on (N)" : "";
  netGraphNote.hidden = !on;
}

function renderScoreboard() {
  const board = session.scoreboard();
  const key = JSON.stringify(board.columns);
  if (key !== columnsShown) {
    columnsShown = key;
    replace(scoreHead, el("th", { scope: "col", text: "Player" }), ...board.columns.map((c) => el("th", { scope: "col", text: c })));
  }
  const rows = board.rows.map((r) =>
    el("tr", { class: r.id === session.playerId ? "me" : "" }, el("th", { scope: "row", text: r.name }), ...r.cells.map((v) => el("td", { text: v }))),
  );
  replace(scoreBody, ...rows);
}

function updateHud(now) {
  const snap = session ? session.full : null;
  const phases = (game && game.phases) || {};
  phaseText.textContent = snap ? phases[snap.phase] || String(snap.phase) : lastClose !== null && !connected ? "Disconnected" : "Connecting…";
  if (!session) return;
  const left = session.phaseSecondsLeft();
  timerText.textContent = left === null ? "–" : `${Math.floor(left / 60)}:${String(Math.floor(left % 60)).padStart(2, "0")}`;
  pingText.textContent = fmtMs(session.rtt);
  rateText.textContent = `${session.snapshotRate(now)}/s`;
  renderScoreboard();
  for (const m of session.drain("chat")) appendScrolled(chatLog, chatLine(m.from && m.from.name, m.text, m.ts, m.id));
  for (const id of session.drain("deleted")) {
    const gone = chatLog.querySelector(`li[data-id="${CSS.escape(String(id))}"]`);
    if (gone) gone.remove();
  }
  for (const e of session.drain("events")) {
    if (e.kind === "match_end" && Array.isArray(e.results)) {
      results = e.results;
      offerReplay(e.results);
    }
    const text = game.describeEvent ? game.describeEvent(e, session.full) : "";
    if (text) appendScrolled(feed, el("li", { text }), 6);
  }
  for (const e of session.drain("errors")) appendScrolled(feed, el("li", { class: "error", text: `Server: ${e.message}` }), 6);
}

/**
 * At the end of a match: once the match is in the history (stored by a
 * background task, so a few tries), link its replay under the scoreboard.
 */
async function offerReplay(ended) {
  let box = document.getElementById("replay-link");
  if (!box) {
    box = el("p", { id: "replay-link" });
    scoreBody.closest("table").after(box);
  }
  box.hidden = true;
  for (let attempt = 0; attempt < 8; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1000 + 500 * attempt));
    if (results !== ended) return; // another match ended since
    let match = null;
    try {
      const data = await api("GET", "/api/matches?limit=20");
      match = findEndedMatch(data && data.matches, ROOM, ended);
    } catch {
      continue;
    }
    const url = replayPageUrl(match);
    if (url) {
      replace(box, el("a", { href: url, text: "Watch the replay of this match" }));
      box.hidden = false;
      return;
    }
  }
}

function chatLine(name, text, ts, id) {
  const attrs = id === null || id === undefined ? {} : { "data-id": String(id) };
  return el("li", attrs, el("time", { text: clock(ts) }), " ", el("strong", { text: `${name ?? "?"}:` }), " ", el("span", { text }));
}

async function loadChatHistory() {
  try {
    const query = new URLSearchParams({ limit: "30" });
    if (INVITE) query.set("invite", INVITE);
    const data = await api("GET", `/api/chat/${encodeURIComponent("room." + ROOM)}?${query}`);
    for (const m of (data && data.messages) || []) appendScrolled(chatLog, chatLine(m.user && m.user.name, m.text, m.ts, m.id));
  } catch {
    // history is a nicety: the live chat works without it
  }
}

// -- debug hook for tests (read-only) ---------------------------------------------------

Object.defineProperty(window, "__arena", {
  value: Object.freeze({
    get game() {
      return game ? game.id : null;
    },
    get own() {
      return ownRendered ? { x: ownRendered.x, y: ownRendered.y } : null;
    },
    get ownServer() {
      return session && session.playerId !== null ? session.serverPosition(session.playerId) : null;
    },
    get others() {
      const out = {};
      const players = view ? view.players : {};
      for (const [id, p] of Object.entries(players)) if (!session || Number(id) !== session.playerId) out[id] = { x: p.x, y: p.y, name: p.name };
      return out;
    },
    get scoreboard() {
      return session ? session.scoreboard() : { columns: [], rows: [] };
    },
    get playerId() {
      return session ? session.playerId : null;
    },
    get tick() {
      return session ? session.lastTick : null;
    },
    get ack() {
      return session ? session.ack() : null;
    },
    get seq() {
      return session ? session.seq : null;
    },
    get status() {
      return statusBox.hidden ? "" : statusBox.textContent;
    },
    get phase() {
      return session && session.full ? session.full.phase : null;
    },
    get frames() {
      return frames;
    },
    get connected() {
      return connected;
    },
    get closeCode() {
      return lastClose;
    },
    get rtt() {
      return session ? session.rtt : null;
    },
    get snapshotRate() {
      return session ? session.snapshotRate(performance.now()) : 0;
    },
    get pending() {
      return session ? session.predictor.pending.length : 0;
    },
    get spectator() {
      return session ? session.spectate : SPECTATE;
    },
    get lag() {
      return LAG;
    },
  }),
  writable: false,
});

// -- start ---------------------------------------------------------------------------------

async function start() {
  document.getElementById("room-name").textContent = ROOM;
  requestAnimationFrame(frame);
  let me;
  try {
    me = await currentSession();
  } catch (err) {
    say(statusBox, err.message, "error");
    return;
  }
  if (!me) {
    say(statusBox, "Pick a name to join this room.", "info");
    loginForm.hidden = false;
    loginForm.querySelector("input").focus();
    loginForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const name = loginForm.querySelector("input").value.trim();
      try {
        await guestLogin(name);
      } catch (err) {
        say(statusBox, err.message, "error");
        return;
      }
      loginForm.hidden = true;
      begin();
    });
    return;
  }
  begin();
}

function begin() {
  say(statusBox, "Connecting…", "info");
  root.dataset.spectate = SPECTATE ? "1" : "0";
  loadChatHistory();
  connect();
  canvas.focus();
}

window.addEventListener("pagehide", () => {
  stopped = true;
  if (socket) socket.close(1000);
});

start();
