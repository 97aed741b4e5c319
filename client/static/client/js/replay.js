/**
 * The replay viewer /replay/<match_id>/: fetches the match's playback
 * document (GET /api/matches/<id>/replay, msgpack or JSON; docs/protocol.md
 * "Replay document"), loads the client module of its game (games/index.js,
 * like the play page) and plays it with that module's own interpolate and
 * render: play/pause, a timeline to seek on (sdk/playback.js: the nearest
 * keyframe before the target, then deltas forward), speeds 0.25x-4x, follow
 * a player (highlight and camera), and the scoreboard and kill feed as they
 * were at the moment shown. Every control is a labelled form control; the
 * keys are sdk/playback.js keyAction's.
 *
 * window.__replay is a read-only view for browser tests.
 */
import { decode } from "@msgpack/msgpack";
import { el, replace, say, fitCanvas } from "./dom.js";
import { loadGame } from "./games/index.js";
import { snapshotApplier } from "./sdk/session.js";
import { Playback, DocumentError, SPEEDS, formatClock, keyAction, loadMessage, cameraLayout } from "./sdk/playback.js";

const DATA = JSON.parse(document.getElementById("replay-data").textContent);
const $ = (id) => document.getElementById(id);
const root = $("replay");
const canvas = $("game-canvas");
const ctx = canvas.getContext("2d");
const statusBox = $("status");
const transport = $("transport");
const playButton = $("play");
const timeline = $("timeline");
const position = $("position");
const speedSelect = $("speed");
const followSelect = $("follow");
const scoreHead = $("scoreboard-head");
const scoreBody = $("scoreboard-body");
const scoreWhen = $("score-when");
const feedList = $("feed");
const phaseText = $("phase");
const timerText = $("timer");

let game = null;
let playback = null;
let config = null;
let following = null; // player id or null
let lastFrameAt = performance.now();
let shown = { index: -1, following: undefined, board: { columns: [], rows: [] }, feed: [], tick: null, results: [] };
let columnsShown = "";
let failure = null; // {status, code, message}

// -- loading ------------------------------------------------------------------------

async function fetchDocument() {
  let response;
  try {
    response = await fetch(DATA.url, {
      credentials: "same-origin",
      headers: { Accept: "application/msgpack, application/json" },
    });
  } catch {
    throw Object.assign(new Error(loadMessage(0, DATA.match_id)), { status: 0, code: "network" });
  }
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok) {
    let code = `http_${response.status}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.code) code = String(body.error.code);
    } catch {
      // not the contract's JSON error: the status says enough
    }
    throw Object.assign(new Error(loadMessage(response.status, DATA.match_id)), { status: response.status, code });
  }
  if (type.includes("msgpack")) return decode(new Uint8Array(await response.arrayBuffer()));
  return response.json();
}

async function start() {
  requestAnimationFrame(frame);
  say(statusBox, "Loading the replay…", "info");
  let doc;
  try {
    doc = await fetchDocument();
    game = await loadGame(doc && doc.game);
    playback = new Playback(doc, snapshotApplier(game));
  } catch (err) {
    failure = { status: err.status ?? null, code: err.code ?? (err instanceof DocumentError ? "bad_document" : "error"), message: err.message };
    say(statusBox, err.message, "error");
    phaseText.textContent = "–";
    canvas.setAttribute("aria-label", "Replay (not available)");
    return;
  }
  config = { ...(game.defaults || {}), tick_rate: doc.tick_rate, snapshot_rate: doc.snapshot_rate };
  const first = playback.stateAt(0);
  if (game.configFromSnapshot) config = game.configFromSnapshot(config, first);
  present(doc);
  say(statusBox, "", "info");
  playback.toggle(); // start playing
  syncControls();
}

/** Title, names, the follow list and the timeline's range, all as text. */
function present(doc) {
  document.title = `Replay: ${game.name}, match ${doc.match_id}`;
  $("game-name").textContent = `${game.name} replay`;
  $("room-name").textContent = String(doc.room ?? "");
  $("room-line").hidden = !doc.room;
  root.dataset.game = game.id;
  canvas.setAttribute("aria-label", `${game.name} replay of match ${doc.match_id}: use the playback controls below, or Space, the arrow keys, 1 to 5, [ and ] and F.`);
  const players = Array.isArray(doc.players) ? doc.players : [];
  replace(
    followSelect,
    el("option", { value: "", text: "Nobody (whole map)" }),
    ...players.map((p) => el("option", { value: String(p.id), text: String(p.name ?? `player ${p.id}`) })),
  );
  timeline.min = String(playback.firstTick);
  timeline.max = String(playback.lastTick);
  transport.hidden = false;
}

// -- controls ------------------------------------------------------------------------

function syncControls() {
  if (!playback) return;
  playButton.textContent = playback.playing ? "Pause" : "Play";
  playButton.setAttribute("aria-pressed", playback.playing ? "true" : "false");
  const tick = Math.round(playback.tick);
  if (Number(timeline.value) !== tick) timeline.value = String(tick);
  const text = `${formatClock(playback.seconds())} / ${formatClock(playback.duration())}`;
  position.textContent = text;
  timeline.setAttribute("aria-valuetext", text.replace(" / ", " of "));
  speedSelect.value = String(playback.speed);
  followSelect.value = following === null ? "" : String(following);
}

function act(action) {
  if (!playback || !action) return;
  switch (action.type) {
    case "toggle":
      playback.toggle();
      break;
    case "seek":
      playback.seekBy(action.seconds);
      break;
    case "frame":
      playback.playing = false;
      playback.stepFrames(action.delta);
      break;
    case "start":
      playback.seek(playback.firstTick);
      break;
    case "end":
      playback.seek(playback.lastTick);
      break;
    case "speed":
      playback.setSpeed(action.speed);
      break;
    case "slower":
      playback.stepSpeed(-1);
      break;
    case "faster":
      playback.stepSpeed(1);
      break;
    case "follow": {
      const ids = [...followSelect.options].map((o) => (o.value === "" ? null : Number(o.value)));
      following = ids[(ids.indexOf(following) + 1) % ids.length] ?? null;
      break;
    }
    default:
      break;
  }
  syncControls();
}

playButton.addEventListener("click", () => act({ type: "toggle" }));
timeline.addEventListener("input", () => {
  if (!playback) return;
  playback.seek(Number(timeline.value));
  syncControls();
});
speedSelect.addEventListener("change", () => act({ type: "speed", speed: Number(speedSelect.value) }));
followSelect.addEventListener("change", () => {
  following = followSelect.value === "" ? null : Number(followSelect.value);
  syncControls();
});

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t instanceof HTMLSelectElement) return; // the lists keep their own keys
  if (t instanceof HTMLButtonElement && (ev.key === " " || ev.key === "Enter")) return; // the button's own click
  if (t instanceof HTMLAnchorElement && ev.key === "Enter") return;
  const action = keyAction(ev);
  if (!action) return;
  ev.preventDefault();
  act(action);
});

// -- drawing ---------------------------------------------------------------------------

function frame(now) {
  const frameMs = now - lastFrameAt;
  lastFrameAt = now;
  const size = fitCanvas(canvas, ctx);
  ctx.fillStyle = "#101418";
  ctx.fillRect(0, 0, size.w, size.h);
  if (playback) {
    const wasPlaying = playback.playing;
    playback.advance(frameMs);
    const pair = playback.bracket();
    const state = pair.a;
    updatePanels(state);
    const view = game.interpolate(pair, config);
    const followed = following !== null && view.players ? view.players[following] : null;
    const focus = followed ? { x: followed.x, y: followed.y } : null;
    const layout = cameraLayout(size, game.size(config), focus);
    ctx.save();
    ctx.translate(layout.ox, layout.oy);
    ctx.scale(layout.scale, layout.scale);
    game.render(ctx, {
      view, own: focus, ownState: focus ? game.ownState(state, following, config) : null, input: null,
      full: state, me: focus ? following : null, tick: playback.tick, scale: layout.scale, config, results: shown.results,
    });
    ctx.restore();
    if (wasPlaying) syncControls();
  }
  requestAnimationFrame(frame);
}

/** Scoreboard, feed and HUD of the frame shown (rebuilt only when that frame or the followed player changes). */
function updatePanels(state) {
  const index = playback.indexAt(playback.tick);
  if (index === shown.index && following === shown.following) return;
  const board = game.scoreboard(state, config);
  const key = JSON.stringify(board.columns);
  if (key !== columnsShown) {
    columnsShown = key;
    replace(scoreHead, el("th", { scope: "col", text: "Player" }), ...board.columns.map((c) => el("th", { scope: "col", text: c })));
  }
  replace(
    scoreBody,
    ...board.rows.map((r) =>
      el("tr", { class: r.id === following ? "me" : "" }, el("th", { scope: "row", text: r.name }), ...r.cells.map((v) => el("td", { text: v }))),
    ),
  );
  const feed = playback.feed((e) => (game.describeEvent ? game.describeEvent(e, state) : ""));
  replace(feedList, ...feed.map((line) => el("li", { text: line.text })));
  scoreWhen.textContent = `at ${formatClock(playback.seconds(state.tick))}`;
  const phases = game.phases || {};
  phaseText.textContent = phases[state.phase] || String(state.phase ?? "–");
  const left = state.phase_ends ? Math.max(0, (state.phase_ends - state.tick) / config.tick_rate) : null;
  timerText.textContent = left === null ? "–" : formatClock(Math.ceil(left));
  // The results of the last match_end up to the playhead (the game's end screen), [] if none.
  const ends = playback.eventsUntil().filter((e) => e.kind === "match_end" && Array.isArray(e.results));
  const results = ends.length ? ends[ends.length - 1].results : [];
  shown = { index, following, board, feed: feed.map((l) => l.text), tick: state.tick, results };
}

// -- debug hook for tests (read-only) ---------------------------------------------------

Object.defineProperty(window, "__replay", {
  value: Object.freeze({
    get ready() {
      return playback !== null;
    },
    get failure() {
      return failure;
    },
    get game() {
      return game ? game.id : null;
    },
    get playing() {
      return playback ? playback.playing : false;
    },
    get speed() {
      return playback ? playback.speed : null;
    },
    get playhead() {
      return playback ? playback.tick : null;
    },
    get firstTick() {
      return playback ? playback.firstTick : null;
    },
    get lastTick() {
      return playback ? playback.lastTick : null;
    },
    /** The tick of the state the scoreboard and feed show, and how it was reached. */
    get shownTick() {
      return shown.tick;
    },
    get lastSeek() {
      return playback ? { ...playback.lastSeek } : null;
    },
    get scoreboard() {
      return shown.board;
    },
    get feed() {
      return shown.feed;
    },
    get following() {
      return following;
    },
    get speeds() {
      return SPEEDS;
    },
  }),
  writable: false,
});

start();
