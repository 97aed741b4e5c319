/**
 * The paddle game's client module (engine/paddle; a plug-in of the SDK,
 * sdk/plugin.js). 2-4 players guard the sides of a square court (left,
 * right, top, bottom in seat order; y grows downwards); a side without a
 * player is a wall. One input field: `dir` in {-1, 0, 1}, toward the lower or
 * higher coordinate along the own side.
 *
 * Snapshot (engine/paddle/match.py SCHEMA): phase, phase_ends, serve_at,
 * court [size, paddle_length, ball_radius] (full snapshots only),
 * paddles {id: [pos, side, score, misses, name]}, balls {id: [x, y, vx, vy]}.
 */
import { defineSchema } from "../sdk/schema.js";
import { entitiesBetween, lerp } from "../sdk/interpolation.js";

/** PaddleConfig() values the client needs; welcome and the court override them. */
export const DEFAULTS = Object.freeze({
  tick_rate: 60,
  snapshot_rate: 30,
  court_size: 16000,
  paddle_length: 3200,
  paddle_speed: 14400.0,
  ball_radius: 160,
  score_limit: 7,
});

export const SCHEMA = defineSchema({
  collections: [{ name: "paddles", movable: 1 }, { name: "balls", movable: 2 }],
  scalars: ["phase", "phase_ends", "serve_at"],
  static: ["court"],
});

export const SIDES = Object.freeze(["left", "right", "top", "bottom"]);
// Paddle array: [pos, side, score, misses, name]; ball array: [x, y, vx, vy].
export const D_POS = 0, D_SIDE = 1, D_SCORE = 2, D_MISSES = 3, D_NAME = 4;

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Units a paddle moves per tick (PaddleMatch._paddle_step). */
export function paddleStep(config) {
  return Math.max(1, roundHalfEven(config.paddle_speed / config.tick_rate));
}

/** A paddle's centre on the court for its side and position along it. */
export function paddlePoint(side, pos, size) {
  switch (side) {
    case 0:
      return { x: 0, y: pos };
    case 1:
      return { x: size, y: pos };
    case 2:
      return { x: pos, y: 0 };
    default:
      return { x: pos, y: size };
  }
}

const VERTICAL = { KeyW: -1, ArrowUp: -1, KeyS: 1, ArrowDown: 1 };
const HORIZONTAL = { KeyA: -1, ArrowLeft: -1, KeyD: 1, ArrowRight: 1 };
const PHASES = { waiting: "Waiting for players", countdown: "Starting soon", playing: "Playing", ended: "Match over" };

function nameOf(full, id) {
  const arr = full && full.paddles ? full.paddles[id] : null;
  return arr ? String(arr[D_NAME]) : `player ${id}`;
}

function colorFor(id) {
  return `hsl(${(Number(id) * 137.508) % 360} 70% 55%)`;
}

/** Paddles by the engine's results order: score desc, misses asc, id asc. */
export function standings(full) {
  return Object.entries(full.paddles || {})
    .map(([id, arr]) => ({ id: Number(id), name: String(arr[D_NAME] ?? ""), side: SIDES[arr[D_SIDE]] ?? "?", score: arr[D_SCORE], misses: arr[D_MISSES] }))
    .sort((a, b) => b.score - a.score || a.misses - b.misses || a.id - b.id);
}

/** @type {import("../sdk/plugin.js").GamePlugin} */
const paddle = {
  id: "paddle",
  name: "Paddle",
  defaults: DEFAULTS,
  schema: SCHEMA,
  configFromSnapshot(config, full) {
    const c = full.court;
    if (!Array.isArray(c) || c.length < 3) return config;
    return { ...config, court_size: c[0], paddle_length: c[1], ball_radius: c[2] };
  },

  keys: [...Object.keys(VERTICAL), ...Object.keys(HORIZONTAL)],
  controls: [
    ["W / S or Up / Down", "move (left and right sides)"],
    ["A / D or Left / Right", "move (top and bottom sides)"],
  ],
  canvasLabel: "Paddle court. Guard your side: W and S or the up and down arrows move a left or right paddle, A and D or the left and right arrows a top or bottom one.",

  /** {dir}: the keys along the own side (vertical for left/right, horizontal for top/bottom). */
  input(controls, previous, own) {
    const map = own && own.side >= 2 ? HORIZONTAL : VERTICAL;
    let dir = 0;
    for (const code of controls.keys) dir += map[code] || 0;
    return { dir: Math.max(-1, Math.min(1, dir)) };
  },

  ownState(full, playerId, config) {
    const arr = full.paddles ? full.paddles[playerId] : undefined;
    if (!arr) return null;
    const half = Math.floor(config.paddle_length / 2);
    return {
      pos: arr[D_POS], side: arr[D_SIDE], size: config.court_size,
      lo: half, hi: config.court_size - half, step: paddleStep(config),
      canMove: full.phase !== "ended",
    };
  },

  /** One tick of PaddleMatch.step for this paddle: slide by dir * step within the court. */
  predict(own, input, config) {
    if (!own.canMove || !input.dir) return own;
    return { ...own, pos: Math.min(own.hi, Math.max(own.lo, own.pos + input.dir * own.step)) };
  },

  ownPosition(own) {
    return paddlePoint(own.side, own.pos, own.size);
  },
  /** Half a paddle: a longer correction is a reset (match start puts paddles in the middle). */
  snapDistance: 1600,

  interpolate(pair, config) {
    const size = config.court_size;
    const players = entitiesBetween(
      pair, "paddles",
      (id, arr) => ({ id: Number(id), pos: arr[D_POS], side: arr[D_SIDE], score: arr[D_SCORE], misses: arr[D_MISSES], name: String(arr[D_NAME] ?? ""), ...paddlePoint(arr[D_SIDE], arr[D_POS], size) }),
      (v, a, b, t) => {
        if (a[D_SIDE] !== b[D_SIDE] || Math.abs(b[D_POS] - a[D_POS]) > config.paddle_length) return;
        v.pos = lerp(a[D_POS], b[D_POS], t);
        Object.assign(v, paddlePoint(v.side, v.pos, size));
      },
    );
    const balls = entitiesBetween(pair, "balls", (id, arr) => ({ id: Number(id), x: arr[0], y: arr[1] }), (v, a, b, t) => {
      v.x = lerp(a[0], b[0], t);
      v.y = lerp(a[1], b[1], t);
    });
    return { players, balls };
  },

  size(config) {
    return { w: config.court_size, h: config.court_size };
  },

  render(ctx, frame) {
    const c = frame.config;
    const size = c.court_size;
    const thick = Math.max(size / 80, 2 / frame.scale);
    const half = c.paddle_length / 2;
    ctx.fillStyle = "#1b232b";
    ctx.fillRect(0, 0, size, size);
    // The goal lines: guarded sides in their player's colour, walls grey.
    const guarded = {};
    for (const p of Object.values(frame.view.players)) guarded[p.side] = p.id;
    ctx.lineWidth = thick / 2;
    for (let side = 0; side < 4; side++) {
      const a = paddlePoint(side, 0, size);
      const b = paddlePoint(side, size, size);
      ctx.strokeStyle = side in guarded ? colorFor(guarded[side]) : "#56636f";
      ctx.globalAlpha = side in guarded ? 0.35 : 1;
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.font = `${14 / frame.scale}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const p of Object.values(frame.view.players)) {
      const own = p.id === frame.me;
      let { pos } = p;
      if (own) {
        if (!frame.ownState) continue;
        pos = frame.ownState.side === p.side && frame.own ? (p.side < 2 ? frame.own.y : frame.own.x) : pos;
      }
      ctx.fillStyle = own ? "#42a5f5" : colorFor(p.id);
      const vertical = p.side < 2;
      const x = p.side === 0 ? 0 : p.side === 1 ? size - thick : pos - half;
      const y = p.side === 2 ? 0 : p.side === 3 ? size - thick : pos - half;
      ctx.fillRect(x, y, vertical ? thick : 2 * half, vertical ? 2 * half : thick);
      if (own) {
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = thick / 4;
        ctx.strokeRect(x, y, vertical ? thick : 2 * half, vertical ? 2 * half : thick);
      }
      // Names and scores drawn with fillText are text, never markup.
      ctx.fillStyle = "#e8eef3";
      const label = `${p.name} ${p.score}`;
      const inset = size / 10;
      const lx = p.side === 0 ? inset : p.side === 1 ? size - inset : pos;
      const ly = p.side === 2 ? inset : p.side === 3 ? size - inset : pos;
      ctx.fillText(label, lx, ly);
    }
    ctx.fillStyle = "#ffffff";
    for (const b of Object.values(frame.view.balls)) {
      ctx.beginPath();
      ctx.arc(b.x, b.y, c.ball_radius, 0, Math.PI * 2);
      ctx.fill();
    }
    const full = frame.full;
    if (full && full.phase !== "playing") {
      ctx.fillStyle = "rgba(0,0,0,0.55)";
      ctx.fillRect(0, size * 0.3, size, size * 0.4);
      ctx.fillStyle = "#ffffff";
      ctx.font = `${22 / frame.scale}px system-ui, sans-serif`;
      if (full.phase === "ended") {
        const rows = frame.results.length ? frame.results : standings(full).map((r, i) => ({ ...r, place: i + 1 }));
        ctx.fillText(rows.length ? `Match over: ${rows[0].name} wins` : "Match over", size / 2, size * 0.38);
        ctx.font = `${15 / frame.scale}px system-ui, sans-serif`;
        rows.slice(0, 4).forEach((r, i) => {
          ctx.fillText(`${r.place ?? i + 1}. ${r.name}: ${r.score} (missed ${r.misses})`, size / 2, size * (0.46 + i * 0.055));
        });
      } else {
        const left = full.phase_ends ? Math.ceil(Math.max(0, full.phase_ends - full.tick) / c.tick_rate) : null;
        const text = full.phase === "countdown" && left !== null ? `Starting in ${left}` : PHASES[full.phase] || String(full.phase);
        ctx.fillText(text, size / 2, size / 2);
      }
    }
  },

  scoreboard(full) {
    const rows = standings(full).map((p) => ({ id: p.id, name: p.name, cells: [p.side, p.score, p.misses] }));
    return { columns: ["Side", "Score", "Misses"], rows };
  },

  describeEvent(e, full) {
    switch (e.kind) {
      case "score":
        return `${nameOf(full, e.player)} missed the ball`;
      case "phase":
        return PHASES[e.phase] || String(e.phase);
      case "match_end": {
        const winner = (e.results || [])[0];
        return winner ? `Winner: ${winner.name} (${winner.score})` : "Match over";
      }
      default:
        return "";
    }
  },
  phases: PHASES,
};

export default paddle;
