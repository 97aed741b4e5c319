/**
 * The game page /play/<room>/: socket, input, prediction, interpolation,
 * canvas rendering at the display's frame rate, HUD, room chat, net graph.
 *
 * Test hooks in the page URL: ?spectate=1 (spectator), ?invite=<code>
 * (private rooms), ?lag=<ms> (delay every game-socket send and receive by
 * that much). window.__arena is a read-only view for browser tests.
 */
import { api, currentSession, guestLogin } from "./api.js";
import { el, replace, clock, appendScrolled, say } from "./dom.js";
import { GameSession } from "./session.js";
import { FrameSocket, closeInfo, backoffMs, gameSocketUrl } from "./net.js";
import { projectileAt, PICKUP_KINDS, unqPos } from "./codec.js";

const root = document.getElementById("game");
const ROOM = JSON.parse(document.getElementById("room-data").textContent).room;
const params = new URLSearchParams(location.search);
const SPECTATE = ["1", "true", "yes"].includes(params.get("spectate") || "");
const INVITE = params.get("invite");
const LAG = Math.max(0, Math.min(2000, Number(params.get("lag")) || 0));

const canvas = document.getElementById("arena");
const ctx = canvas.getContext("2d");
const statusBox = document.getElementById("status");
const scoreBody = document.getElementById("scoreboard-body");
const phaseText = document.getElementById("phase");
const timerText = document.getElementById("timer");
const pingText = document.getElementById("ping");
const rateText = document.getElementById("snaprate");
const netGraph = document.getElementById("netgraph");
const chatLog = document.getElementById("chat-log");
const chatForm = document.getElementById("chat-form");
const chatInput = document.getElementById("chat-text");
const loginForm = document.getElementById("login-form");
const feed = document.getElementById("feed");

let session = new GameSession({ spectate: SPECTATE });
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
let frameMs = 16;
let ownRendered = null;
let othersRendered = {};
let renderTickNow = 0;
let showNet = false;
const netSamples = []; // [{t, rtt, interval, correction, bytes}]
let lastSnapArrival = null;

// -- input state ---------------------------------------------------------------

const keys = new Set();
const intent = { aim: 0, fire: false, mouseFire: false, aimSpin: 0 };
let mouse = null; // canvas pixel position of the pointer, or null

const MOVE_KEYS = {
  KeyW: [0, -1], ArrowUp: [0, -1],
  KeyS: [0, 1], ArrowDown: [0, 1],
  KeyA: [-1, 0], ArrowLeft: [-1, 0],
  KeyD: [1, 0], ArrowRight: [1, 0],
};

function typing(ev) {
  const t = ev.target;
  return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT", "BUTTON"].includes(t.tagName));
}

document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && document.activeElement === chatInput) {
    chatInput.blur();
    return;
  }
  if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.code in MOVE_KEYS || ev.code === "Space" || ev.code === "KeyQ" || ev.code === "KeyE") {
    keys.add(ev.code);
    ev.preventDefault();
    if (ev.code === "KeyQ" || ev.code === "KeyE") mouse = null; // keyboard aim takes over
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
  intent.mouseFire = false;
});
canvas.addEventListener("mousemove", (ev) => {
  const rect = canvas.getBoundingClientRect();
  mouse = { x: ev.clientX - rect.left, y: ev.clientY - rect.top };
});
canvas.addEventListener("mousedown", (ev) => {
  if (ev.button === 0) intent.mouseFire = true;
  canvas.focus();
});
window.addEventListener("mouseup", () => {
  intent.mouseFire = false;
});
canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());

/** The stick from the keys held now. */
function stick() {
  let mx = 0;
  let my = 0;
  for (const code of keys) {
    const dir = MOVE_KEYS[code];
    if (dir) {
      mx += dir[0];
      my += dir[1];
    }
  }
  mx = Math.max(-1, Math.min(1, mx));
  my = Math.max(-1, Math.min(1, my));
  return { mx, my };
}

function updateAim(dtMs) {
  const spin = (keys.has("KeyE") ? 1 : 0) - (keys.has("KeyQ") ? 1 : 0);
  if (spin !== 0) {
    intent.aim += spin * 3.5 * (dtMs / 1000); // radians per second
    intent.aim = Math.atan2(Math.sin(intent.aim), Math.cos(intent.aim));
  } else if (mouse && ownRendered) {
    const v = view();
    const px = v.ox + ownRendered.x * v.scale;
    const py = v.oy + ownRendered.y * v.scale;
    if (Math.hypot(mouse.x - px, mouse.y - py) > 2) intent.aim = Math.atan2(mouse.y - py, mouse.x - px);
  }
}

// -- connection --------------------------------------------------------------------

function connect() {
  clearTimeout(reconnectTimer);
  session.resetConnection();
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
    const kind = session.handleFrame(frame, now, bytes);
    if (kind === "welcome") {
      attempts = 0;
      say(statusBox, SPECTATE || session.spectate ? "Spectating." : "", "info");
      startTimers();
    } else if (kind === "snap") {
      if (lastSnapArrival !== null) recordNet({ interval: now - lastSnapArrival, bytes });
      lastSnapArrival = now;
    }
  };
  socket.onBadFrame = () => {};
  socket.onClose = (code, reason) => {
    if (mine !== socket) return;
    connected = false;
    lastClose = code;
    stopTimers();
    const info = closeInfo(code);
    const last = session.errors[session.errors.length - 1];
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

function startTimers() {
  stopTimers();
  const interval = 1000 / session.config.tick_rate;
  inputTimer = setInterval(sendInput, interval);
  pingTimer = setInterval(sendPing, 1000);
  sendPing();
}

function stopTimers() {
  clearInterval(inputTimer);
  clearInterval(pingTimer);
  inputTimer = pingTimer = null;
}

function sendInput() {
  if (!socket || !connected || !session.canSendInput()) return;
  const s = stick();
  const fire = keys.has("Space") || intent.mouseFire;
  const frame = session.nextInput({ mx: s.mx, my: s.my, aim: intent.aim, fire }, renderTickNow);
  socket.send(frame);
  lastSendAt = performance.now();
}

function sendPing() {
  if (socket && connected) socket.send(session.nextPing(performance.now()));
}

chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = chatInput.value.trim();
  if (!text || !socket || !connected) return;
  socket.send({ t: "chat", text: text.slice(0, 200) });
  chatInput.value = "";
});

// -- rendering ------------------------------------------------------------------------

function view() {
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  const mw = session.config.map_width;
  const mh = session.config.map_height;
  const scale = Math.min(w / mw, h / mh);
  return { scale, ox: (w - mw * scale) / 2, oy: (h - mh * scale) / 2, w, h };
}

function resize() {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
}

function colorFor(id) {
  const hue = (Number(id) * 137.508) % 360;
  return `hsl(${hue} 70% 55%)`;
}

function frame(now) {
  frameMs = now - lastFrameAt;
  lastFrameAt = now;
  frames++;
  updateAim(frameMs);
  resize();
  renderTickNow = session.interp.renderTick(now);
  const interval = 1000 / session.config.tick_rate;
  const alpha = lastSendAt ? Math.min(1, (now - lastSendAt) / interval) : 0;
  const me = session.playerId;
  othersRendered = session.interp.playersAt(renderTickNow);
  ownRendered = null;
  if (!session.spectate && me !== null && session.predictor.state) {
    ownRendered = session.predictor.renderPosition(stick(), alpha, frameMs);
  }
  draw(now);
  if (frames % 6 === 0) updateHud(now);
  requestAnimationFrame(frame);
}

function draw(now) {
  const v = view();
  const c = session.config;
  ctx.fillStyle = "#101418";
  ctx.fillRect(0, 0, v.w, v.h);
  ctx.save();
  ctx.translate(v.ox, v.oy);
  ctx.scale(v.scale, v.scale);
  ctx.fillStyle = "#1b232b";
  ctx.fillRect(0, 0, c.map_width, c.map_height);
  ctx.fillStyle = "#56636f";
  for (const [x, y, w, h] of c.walls) ctx.fillRect(x, y, w, h);
  const snap = session.interp.newest();
  if (snap) {
    for (const arr of Object.values(snap.pickups || {})) {
      ctx.fillStyle = PICKUP_KINDS[arr[2]] === "health" ? "#4caf50" : "#ffca28";
      ctx.beginPath();
      ctx.arc(unqPos(arr[0]), unqPos(arr[1]), c.pickup_radius, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.fillStyle = "#ffffff";
    for (const arr of Object.values(snap.projectiles || {})) {
      const p = projectileAt(arr, Math.max(renderTickNow, arr[4]));
      ctx.beginPath();
      ctx.arc(p.x, p.y, c.projectile_radius, 0, Math.PI * 2);
      ctx.fill();
    }
  }
  const me = session.playerId;
  const r = c.player_radius;
  ctx.font = `${Math.max(12, 14 / v.scale)}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  for (const [id, p] of Object.entries(othersRendered)) {
    const own = Number(id) === me && !session.spectate;
    let x = p.x;
    let y = p.y;
    let aim = p.aim;
    if (own) {
      if (!ownRendered) continue;
      x = ownRendered.x;
      y = ownRendered.y;
      aim = intent.aim;
    }
    ctx.globalAlpha = p.alive ? 1 : 0.3;
    ctx.fillStyle = own ? "#42a5f5" : colorFor(id);
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.fill();
    if (own) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 3;
      ctx.stroke();
    }
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 4;
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + Math.cos(aim) * r * 1.6, y + Math.sin(aim) * r * 1.6);
    ctx.stroke();
    ctx.globalAlpha = 1;
    // Names drawn with fillText are text, never markup.
    ctx.fillStyle = "#e8eef3";
    ctx.fillText(p.name, x, y - r - 8);
    ctx.fillStyle = p.hp > 30 ? "#66bb6a" : "#ef5350";
    ctx.fillRect(x - r, y + r + 4, (2 * r * Math.max(0, p.hp)) / c.max_hp, 4);
  }
  ctx.restore();
  if (showNet) drawNetGraph(v, now);
}

function recordNet(sample) {
  netSamples.push({
    t: performance.now(),
    rtt: session.lastRtt,
    correction: session.predictor.lastCorrection,
    ...sample,
  });
  if (netSamples.length > 120) netSamples.shift();
}

function drawNetGraph(v, now) {
  const w = Math.min(360, v.w - 20);
  const h = 90;
  const x0 = v.w - w - 10;
  const y0 = v.h - h - 10;
  ctx.fillStyle = "rgba(0,0,0,0.7)";
  ctx.fillRect(x0, y0, w, h);
  const n = netSamples.length;
  const bar = w / 120;
  for (let i = 0; i < n; i++) {
    const s = netSamples[i];
    const ih = Math.min(h - 4, (s.interval / 200) * (h - 4));
    ctx.fillStyle = s.interval > 1.5 * (1000 / session.config.snapshot_rate) ? "#ef5350" : "#66bb6a";
    ctx.fillRect(x0 + i * bar, y0 + h - ih, Math.max(1, bar - 1), ih);
    if (s.correction > 0.01) {
      ctx.fillStyle = "#ffca28";
      ctx.fillRect(x0 + i * bar, y0 + 2, Math.max(1, bar - 1), Math.min(20, s.correction * 4));
    }
  }
  ctx.fillStyle = "#ffffff";
  ctx.font = "12px ui-monospace, monospace";
  ctx.textAlign = "left";
  const kbps = (session.bytesPerSecond(now) / 1024).toFixed(1);
  ctx.fillText(
    `snap ${session.snapshotRate(now)}/s  ${kbps} KiB/s  rtt ${fmtMs(session.rtt)}  pending ${session.predictor.pending.length}`,
    x0 + 6,
    y0 + 34,
  );
}

function fmtMs(v) {
  return v === null || v === undefined ? "–" : `${Math.round(v)} ms`;
}

function toggleNetGraph() {
  showNet = !showNet;
  netGraph.textContent = showNet ? "Net graph on (N)" : "";
  netGraph.hidden = !showNet;
}

const PHASES = { waiting: "Waiting for players", countdown: "Starting soon", playing: "Playing", ended: "Match over" };

function updateHud(now) {
  const snap = session.full;
  phaseText.textContent = snap ? PHASES[snap.phase] || snap.phase : lastClose !== null && !connected ? "Disconnected" : "Connecting…";
  const left = session.phaseSecondsLeft();
  timerText.textContent = left === null ? "–" : `${Math.floor(left / 60)}:${String(Math.floor(left % 60)).padStart(2, "0")}`;
  pingText.textContent = fmtMs(session.rtt);
  rateText.textContent = `${session.snapshotRate(now)}/s`;
  const rows = session.scoreboard().map((p) =>
    el(
      "tr",
      { class: p.id === session.playerId ? "me" : "" },
      el("th", { scope: "row", text: p.name }),
      el("td", { text: p.score }),
      el("td", { text: p.kills }),
      el("td", { text: p.deaths }),
    ),
  );
  replace(scoreBody, ...rows);
  for (const m of session.drain("chat")) appendScrolled(chatLog, chatLine(m.from && m.from.name, m.text, m.ts, m.id));
  for (const id of session.drain("deleted")) {
    const gone = chatLog.querySelector(`li[data-id="${CSS.escape(String(id))}"]`);
    if (gone) gone.remove();
  }
  for (const e of session.drain("events")) {
    const text = describeEvent(e);
    if (text) appendScrolled(feed, el("li", { text }), 6);
  }
  for (const e of session.drain("errors")) appendScrolled(feed, el("li", { class: "error", text: `Server: ${e.message}` }), 6);
}

function nameOf(id) {
  const arr = session.full && session.full.players ? session.full.players[id] : null;
  return arr ? String(arr[8]) : `player ${id}`;
}

function describeEvent(e) {
  switch (e.kind) {
    case "kill":
      return `${nameOf(e.killer)} eliminated ${nameOf(e.victim)}`;
    case "pickup":
      return `${nameOf(e.player)} picked up ${e.item}`;
    case "phase":
      return PHASES[e.phase] || e.phase;
    case "match_end": {
      const winner = (e.results || [])[0];
      return winner ? `Winner: ${winner.name} (${winner.score})` : "Match over";
    }
    default:
      return "";
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
    get own() {
      return ownRendered ? { x: ownRendered.x, y: ownRendered.y } : null;
    },
    get ownServer() {
      return session.playerId === null ? null : session.serverPosition(session.playerId);
    },
    get others() {
      const out = {};
      for (const [id, p] of Object.entries(othersRendered)) if (Number(id) !== session.playerId) out[id] = { x: p.x, y: p.y, name: p.name };
      return out;
    },
    get playerId() {
      return session.playerId;
    },
    get tick() {
      return session.lastTick;
    },
    get ack() {
      const acks = session.full ? session.full.acks : null;
      return acks && session.playerId !== null && session.playerId in acks ? acks[session.playerId] : null;
    },
    get seq() {
      return session.seq;
    },
    get status() {
      return statusBox.hidden ? "" : statusBox.textContent;
    },
    get phase() {
      return session.full ? session.full.phase : null;
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
      return session.rtt;
    },
    get snapshotRate() {
      return session.snapshotRate(performance.now());
    },
    get pending() {
      return session.predictor.pending.length;
    },
    get spectator() {
      return session.spectate;
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
