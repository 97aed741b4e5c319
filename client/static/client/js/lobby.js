/**
 * The lobby page: guest name, online count, the game picker (from
 * GET /api/games), live room list with each room's game, quick play and room
 * creation for the picked game (with invite links for private rooms), lobby chat with
 * history, the notifications bell, and the recent matches with links to their
 * replays (/replay/<id>/). Live updates come over /ws/lobby/
 * (JSON text frames); everything from the network is rendered as text.
 */
import { api, currentSession, guestLogin } from "./api.js";
import { el, replace, clock, appendScrolled, say } from "./dom.js";
import { backoffMs } from "./sdk/socket.js";
import { LobbyState, playUrl } from "./sdk/lobbystate.js";
import { replayPageUrl } from "./sdk/playback.js";

const $ = (id) => document.getElementById(id);
const statusBox = $("status");
const nameForm = $("name-form");
const main = $("lobby-main");
const roomsBody = $("rooms-body");
const roomsEmpty = $("rooms-empty");
const chatLog = $("chat-log");
const chatForm = $("chat-form");
const chatInput = $("chat-text");
const bell = $("bell");
const bellCount = $("bell-count");
const panel = $("notifications");
const notifList = $("notification-list");
const matchesBody = $("matches-body");
const matchesEmpty = $("matches-empty");

const state = new LobbyState();
let socket = null;
let attempts = 0;
let me = null;

const PHASES = { waiting: "waiting", countdown: "starting", playing: "playing", ended: "ended" };

// -- rendering ------------------------------------------------------------------

function renderRooms() {
  const rows = state.rooms.map((r) =>
    el(
      "tr",
      {},
      el("th", { scope: "row", text: r.name }),
      el("td", { text: state.gameName(r.game) }),
      el("td", { text: `${r.players}/${r.max_players}` }),
      el("td", { text: PHASES[r.phase] || r.phase || "" }),
      el(
        "td",
        {},
        el("a", { href: playUrl(r.name), text: "Join", "aria-label": `Join ${r.name}` }),
        " ",
        el("a", { href: playUrl(r.name, { spectate: true }), text: "Watch", "aria-label": `Watch ${r.name}` }),
      ),
    ),
  );
  replace(roomsBody, ...rows);
  roomsEmpty.hidden = rows.length > 0;
}

/** The recent matches (GET /api/matches), each with a link to its replay when it has one. */
function renderMatches(matches) {
  const rows = matches.map((m) => {
    const standings = [...(m.players || [])]
      .sort((a, b) => (a.place ?? 99) - (b.place ?? 99))
      .map((p) => `${p.name} ${p.score}`)
      .join(", ");
    const url = replayPageUrl(m);
    return el(
      "tr",
      {},
      el("td", {}, el("time", { datetime: m.ended_at, text: clock(m.ended_at) })),
      el("td", { text: state.gameName(m.game) }),
      el("th", { scope: "row", text: m.room }),
      el("td", { text: standings }),
      el("td", {}, url ? el("a", { href: url, text: "Replay", "aria-label": `Watch the replay of match ${m.id} in ${m.room}` }) : ""),
    );
  });
  replace(matchesBody, ...rows);
  matchesEmpty.hidden = rows.length > 0;
}

function chatLine(m) {
  return el(
    "li",
    { "data-id": m.id },
    el("time", { datetime: m.ts, text: clock(m.ts) }),
    " ",
    el("strong", { text: `${(m.user && m.user.name) || "?"}:` }),
    " ",
    el("span", { text: m.text }),
  );
}

function renderNotifications() {
  const n = state.unread;
  bellCount.textContent = String(n);
  bellCount.dataset.zero = n === 0 ? "1" : "0";
  bell.setAttribute("aria-label", `Notifications, ${n} unread`);
  const items = state.notifications.map((x) =>
    el("li", { class: x.read ? "" : "unread" }, el("time", { datetime: x.ts, text: clock(x.ts) }), " ", describe(x)),
  );
  if (items.length === 0) items.push(el("li", { text: "Nothing yet." }));
  replace(notifList, ...items);
}

/** A notification as text (kinds the lobby defines, anything else generically). */
function describe(n) {
  const d = n.data || {};
  if (typeof d.text === "string") return d.text;
  if (typeof d.message === "string") return d.message;
  if (n.kind === "invite" && d.room) return `${d.from ? d.from.name || d.from : "Someone"} invited you to ${d.room}`;
  if (n.kind === "match_end" && d.room) return `Match in ${d.room} ended${d.place ? `: you placed #${d.place}` : ""}`;
  const rest = Object.entries(d)
    .filter(([, v]) => typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
  return rest ? `${n.kind} (${rest})` : n.kind;
}

// -- live socket ------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/lobby/`);
  const mine = socket;
  socket.onopen = () => {
    attempts = 0;
    say(statusBox, "", "info");
    // Data may have changed while the socket was down: fetch it again.
    refresh();
  };
  socket.onmessage = (ev) => {
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    const change = state.apply(frame);
    if (change === "rooms") renderRooms();
    else if (change === "chat") {
      appendScrolled(chatLog, chatLine(frame));
    } else if (change === "chat.deleted") {
      const gone = chatLog.querySelector(`li[data-id="${CSS.escape(String(frame.id))}"]`);
      if (gone) gone.remove();
    } else if (change === "notifications") renderNotifications();
    else if (change === "presence") $("online-count").textContent = String(state.online);
    else if (change === "error") say(statusBox, frame.message || frame.code || "Error", "error");
  };
  socket.onclose = (ev) => {
    if (mine !== socket) return;
    if (ev.code === 4001) {
      say(statusBox, "Your session ended: pick a name again.", "error");
      showLogin();
      return;
    }
    const delay = backoffMs(attempts++);
    say(statusBox, `Lobby connection lost: reconnecting in ${(delay / 1000).toFixed(1)} s…`, "warn");
    setTimeout(connect, delay);
  };
}

/** The game select from state.games (names as text); keeps the current pick when it still exists. */
function renderGames() {
  const select = $("game-select");
  const current = select.value;
  replace(select, ...state.games.map((g) => el("option", { value: g.id, text: g.name })));
  if (state.game(current)) select.value = current;
  pickedGame();
}

/** The picked game; the max-players field follows its seat limit. */
function pickedGame() {
  const g = state.game($("game-select").value) || state.games[0];
  const max = $("max-players");
  max.max = String(g.max_players);
  max.min = "1";
  // A new pick starts from the page's default seat count, within the game's limit.
  if (max.dataset.game !== g.id) max.value = String(Math.min(Number(max.defaultValue) || g.max_players, g.max_players));
  else if (Number(max.value) > g.max_players) max.value = String(g.max_players);
  max.dataset.game = g.id;
  return g;
}

async function loadGames() {
  try {
    state.setGames(await api("GET", "/api/games"));
  } catch {
    state.setGames(null); // an older server without the registry: the arena only
  }
  renderGames();
  renderRooms();
}

async function refresh() {
  const tasks = [
    api("GET", "/api/rooms").then((d) => {
      state.setRooms(d.rooms);
      renderRooms();
    }),
    api("GET", "/api/chat/lobby?limit=50").then((d) => {
      replace(chatLog, ...state.setChat(d.messages).map(chatLine));
      chatLog.scrollTop = chatLog.scrollHeight;
    }),
    api("GET", "/api/notifications?limit=50").then((d) => {
      state.setNotifications(d);
      renderNotifications();
    }),
    loadMatches(),
  ];
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) say(statusBox, `Could not load everything: ${failed.reason.message}`, "warn");
}

function loadMatches() {
  return api("GET", "/api/matches?limit=10").then((d) => renderMatches((d && d.matches) || []));
}

// -- actions ------------------------------------------------------------------------------

chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = chatInput.value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "chat.send", text: text.slice(0, 200) }));
  chatInput.value = "";
});

$("quick-play").addEventListener("click", async () => {
  try {
    const d = await api("POST", "/api/matchmake", state.gameField(pickedGame().id));
    location.assign(playUrl(typeof d.room === "string" ? d.room : d.room.name));
  } catch (err) {
    say(statusBox, `Quick play failed: ${err.message}`, "error");
  }
});

$("create-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const isPrivate = $("private").checked;
  const max = Number($("max-players").value);
  const name = $("room-name").value.trim();
  const body = { private: isPrivate, max_players: max, ...state.gameField(pickedGame().id) };
  if (name) body.name = name;
  let d;
  try {
    d = await api("POST", "/api/rooms", body);
  } catch (err) {
    say(statusBox, `Could not create the room: ${err.message}`, "error");
    return;
  }
  const room = typeof d.room === "string" ? { name: d.room } : d.room || d;
  const invite = d.invite || room.invite || null;
  const url = d.invite_url || playUrl(room.name, { invite });
  if (!isPrivate) {
    location.assign(url);
    return;
  }
  const box = $("invite");
  box.hidden = false;
  $("invite-link").value = new URL(url, location.href).href;
  $("invite-go").href = url;
  $("invite-link").focus();
  $("invite-link").select();
});

$("invite-copy").addEventListener("click", async () => {
  const input = $("invite-link");
  try {
    await navigator.clipboard.writeText(input.value);
    say(statusBox, "Invite link copied.", "info");
  } catch {
    input.select();
    say(statusBox, "Select the link and copy it (Ctrl+C).", "info");
  }
});

$("game-select").addEventListener("change", () => pickedGame());

bell.addEventListener("click", () => {
  const open = panel.hidden;
  panel.hidden = !open;
  bell.setAttribute("aria-expanded", String(open));
});

$("notifications-read").addEventListener("click", async () => {
  try {
    const d = await api("POST", "/api/notifications/read", { all: true });
    state.markAllRead(d && typeof d.unread === "number" ? d.unread : 0);
    renderNotifications();
  } catch (err) {
    say(statusBox, err.message, "error");
  }
});

document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && !panel.hidden) {
    panel.hidden = true;
    bell.setAttribute("aria-expanded", "false");
    bell.focus();
  }
});

// -- start --------------------------------------------------------------------------------

function showLogin() {
  main.hidden = true;
  bell.hidden = true;
  $("whoami").hidden = true;
  nameForm.hidden = false;
  $("name-input").focus();
}

nameForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    me = await guestLogin($("name-input").value.trim());
  } catch (err) {
    say(statusBox, `That name did not work: ${err.message}`, "error");
    return;
  }
  say(statusBox, "", "info");
  enter();
});

function enter() {
  nameForm.hidden = true;
  main.hidden = false;
  bell.hidden = false;
  $("whoami").hidden = false;
  $("whoami-name").textContent = me.user.name;
  window.__lobby = Object.freeze({
    get user() {
      return me && me.user;
    },
    get unread() {
      return state.unread;
    },
    get online() {
      return state.online;
    },
    get connected() {
      return socket !== null && socket.readyState === WebSocket.OPEN;
    },
  });
  loadGames();
  connect();
}

async function start() {
  try {
    me = await currentSession();
  } catch (err) {
    say(statusBox, err.message, "error");
    return;
  }
  if (me) enter();
  else showLogin();
}

start();
