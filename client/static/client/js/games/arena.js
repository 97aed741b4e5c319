/**
 * The arena's client module (a plug-in of the SDK, sdk/plugin.js): its
 * snapshot schema, the engine's movement rule for prediction (arena/physics.js),
 * interpolation of players, drawing, keys and mouse, scoreboard and feed.
 */
import {
  SCHEMA, playerView, projectileAt, unqPos, unqAim, P_X, P_Y, P_AIM, PICKUP_KINDS, AIM_STEPS,
} from "./arena/codec.js";
import { DEFAULT_CONFIG, derive, movePlayer, configWithMap } from "./arena/physics.js";
import { entitiesBetween, lerp, lerpAngle } from "../sdk/interpolation.js";

const MOVE_KEYS = {
  KeyW: [0, -1], ArrowUp: [0, -1],
  KeyS: [0, 1], ArrowDown: [0, 1],
  KeyA: [-1, 0], ArrowLeft: [-1, 0],
  KeyD: [1, 0], ArrowRight: [1, 0],
};
/** Radians per second that Q / E turn the aim. */
const SPIN = 3.5;

const derivedCache = new WeakMap();
function derived(config) {
  let d = derivedCache.get(config);
  if (!d) {
    d = derive(config);
    derivedCache.set(config, d);
  }
  return d;
}

/** Radians into [-pi, pi] (the engine accepts [-2pi, 2pi]). */
export function normAim(a) {
  const n = Number(a);
  if (!Number.isFinite(n)) return 0;
  return Math.atan2(Math.sin(n), Math.cos(n));
}

function clampUnit(v) {
  return Math.max(-1, Math.min(1, v));
}

function colorFor(id) {
  return `hsl(${(Number(id) * 137.508) % 360} 70% 55%)`;
}

const PHASES = { waiting: "Waiting for players", countdown: "Starting soon", playing: "Playing", ended: "Match over" };

function nameOf(full, id) {
  const arr = full && full.players ? full.players[id] : null;
  return arr ? String(arr[8]) : `player ${id}`;
}

/** @type {import("../sdk/plugin.js").GamePlugin} */
const arena = {
  id: "arena",
  name: "Arena",
  defaults: DEFAULT_CONFIG,
  schema: SCHEMA,
  lagCompensation: true,
  configFromSnapshot(config, full) {
    return full.map ? configWithMap(config, full.map) : config;
  },

  keys: [...Object.keys(MOVE_KEYS), "Space", "KeyQ", "KeyE"],
  pointerReleaseKeys: ["KeyQ", "KeyE"],
  controls: [
    ["W A S D or arrows", "move"],
    ["Mouse or Q / E", "aim"],
    ["Click or Space", "fire"],
  ],
  canvasLabel: "Game arena. Move with W A S D or the arrow keys, aim with the mouse or Q and E, fire with the mouse button or Space.",

  /** {mx, my, aim, fire}: the stick from the keys, aim from Q/E or the pointer. */
  input(controls, previous, own) {
    let mx = 0;
    let my = 0;
    for (const code of controls.keys) {
      const d = MOVE_KEYS[code];
      if (d) {
        mx += d[0];
        my += d[1];
      }
    }
    let aim = previous ? previous.aim : 0;
    const spin = (controls.keys.has("KeyE") ? 1 : 0) - (controls.keys.has("KeyQ") ? 1 : 0);
    if (spin !== 0) {
      aim += spin * SPIN * (Math.max(0, controls.frameMs || 0) / 1000);
    } else if (controls.pointer && own) {
      const dx = controls.pointer.x - own.x;
      const dy = controls.pointer.y - own.y;
      if (Math.hypot(dx, dy) > 1) aim = Math.atan2(dy, dx);
    }
    return { mx: clampUnit(mx), my: clampUnit(my), aim: normAim(aim), fire: controls.keys.has("Space") || Boolean(controls.pointerDown) };
  },

  ownState(full, playerId, config) {
    const arr = full.players ? full.players[playerId] : undefined;
    if (!arr) return null;
    const v = playerView(playerId, arr);
    return { x: v.x, y: v.y, vx: 0, vy: 0, alive: v.alive, boosted: v.boost, canMove: full.phase !== "ended" };
  },

  /** Snapshots carry no velocity: take the one predicted after the acknowledged input. */
  resume(server, acked, previous) {
    const respawned = server.alive && previous !== null && !previous.alive;
    let vx = acked ? acked.vx : 0;
    let vy = acked ? acked.vy : 0;
    if (!server.alive || respawned) vx = vy = 0;
    return { ...server, vx, vy, reset: respawned };
  },

  /** Match._move_players for the own player; no movement while dead or in the ended phase. */
  predict(own, input, config) {
    if (!own.alive || !own.canMove) return own;
    return { ...own, ...movePlayer(own, input, own.boosted, derived(config)) };
  },

  ownPosition(own) {
    return { x: own.x, y: own.y };
  },
  /** A correction longer than this (world units) is a teleport (respawn). */
  snapDistance: 48,

  /** Players between the two states (no sliding over jumps > 64 units: respawns). */
  interpolate(pair) {
    const players = entitiesBetween(pair, "players", playerView, (v, pa, pb, t) => {
      const far = Math.abs(pb[P_X] - pa[P_X]) > 64 * 8 || Math.abs(pb[P_Y] - pa[P_Y]) > 64 * 8;
      if (far) return;
      v.x = unqPos(lerp(pa[P_X], pb[P_X], t));
      v.y = unqPos(lerp(pa[P_Y], pb[P_Y], t));
      v.aim = unqAim(lerpAngle(pa[P_AIM], pb[P_AIM], t, AIM_STEPS));
    });
    const newest = pair ? pair.newest : null;
    return {
      players,
      projectiles: newest ? newest.projectiles || {} : {},
      pickups: newest ? newest.pickups || {} : {},
    };
  },

  size(config) {
    return { w: config.map_width, h: config.map_height };
  },

  render(ctx, frame) {
    const c = frame.config;
    const { view, tick, me } = frame;
    ctx.fillStyle = "#1b232b";
    ctx.fillRect(0, 0, c.map_width, c.map_height);
    ctx.fillStyle = "#56636f";
    for (const [x, y, w, h] of c.walls) ctx.fillRect(x, y, w, h);
    for (const arr of Object.values(view.pickups)) {
      ctx.fillStyle = PICKUP_KINDS[arr[2]] === "health" ? "#4caf50" : "#ffca28";
      ctx.beginPath();
      ctx.arc(unqPos(arr[0]), unqPos(arr[1]), c.pickup_radius, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.fillStyle = "#ffffff";
    for (const arr of Object.values(view.projectiles)) {
      const p = projectileAt(arr, Math.max(tick, arr[4]));
      ctx.beginPath();
      ctx.arc(p.x, p.y, c.projectile_radius, 0, Math.PI * 2);
      ctx.fill();
    }
    const r = c.player_radius;
    ctx.font = `${Math.max(12, 14 / frame.scale)}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    for (const [id, p] of Object.entries(view.players)) {
      const own = Number(id) === me;
      let { x, y, aim } = p;
      if (own) {
        if (!frame.own) continue;
        x = frame.own.x;
        y = frame.own.y;
        if (frame.input) aim = frame.input.aim;
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
  },

  /** Score desc, deaths asc, id asc (the engine's results order). */
  scoreboard(full) {
    const rows = Object.entries(full.players || {})
      .map(([id, arr]) => playerView(id, arr))
      .sort((a, b) => b.score - a.score || a.deaths - b.deaths || a.id - b.id)
      .map((p) => ({ id: p.id, name: p.name, cells: [p.score, p.kills, p.deaths] }));
    return { columns: ["Score", "Kills", "Deaths"], rows };
  },

  describeEvent(e, full) {
    switch (e.kind) {
      case "kill":
        return `${nameOf(full, e.killer)} eliminated ${nameOf(full, e.victim)}`;
      case "pickup":
        return `${nameOf(full, e.player)} picked up ${e.item}`;
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

export default arena;
