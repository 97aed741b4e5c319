/**
 * Own-player movement: a line-for-line port of engine.match.Match._move_players.
 *
 * The client predicts its own player with exactly the engine's rule: the stick
 * is an intent, velocity approaches intent * top speed at `accel` (standstill
 * at `friction` when the stick is released), is clamped to the top speed, and
 * the motion is resolved per axis against the walls inflated by the player's
 * radius and against the map bounds. tests/e2e/test_client_codec.py runs the
 * engine and this function on the same inputs and compares positions.
 */

/** GameConfig defaults the client needs (engine/config.py); the server may send its own. */
export const DEFAULT_CONFIG = Object.freeze({
  tick_rate: 20,
  snapshot_rate: 20,
  map_width: 1600,
  map_height: 1000,
  walls: Object.freeze([
    [700, 400, 200, 200],
    [300, 200, 60, 250],
    [1240, 550, 60, 250],
    [300, 750, 300, 50],
    [1000, 200, 300, 50],
  ]),
  player_radius: 16.0,
  max_speed: 250.0,
  accel: 2000.0,
  friction: 1500.0,
  max_hp: 100,
  speed_boost_mult: 1.5,
  fire_cooldown_s: 0.3,
  projectile_speed: 700.0,
  projectile_radius: 4.0,
  pickup_radius: 14.0,
});

/**
 * Tick-based constants derived from a config, like Match._derive.
 * `config` may be partial: missing keys take DEFAULT_CONFIG's values.
 */
export function derive(config = {}) {
  const c = { ...DEFAULT_CONFIG, ...config };
  const dt = 1.0 / c.tick_rate;
  const r = c.player_radius;
  return {
    config: c,
    dt,
    accelStep: c.accel * dt,
    frictionStep: c.friction * dt,
    moveWalls: c.walls.map(([wx, wy, ww, wh]) => [wx - r, wy - r, wx + ww + r, wy + wh + r]),
    maxX: c.map_width - r,
    maxY: c.map_height - r,
  };
}

/** The same map with walls and size from a snapshot's `map` field ([w, h, [[x, y, w, h]...]]). */
export function configWithMap(config, map) {
  if (!Array.isArray(map) || map.length < 3) return config;
  return { ...config, map_width: map[0], map_height: map[1], walls: map[2].map((w) => w.slice()) };
}

/**
 * One fixed step of one living player's movement.
 * state: {x, y, vx, vy} (world units, units/s); stick: {mx, my}; boosted: bool.
 * Returns a new state; never mutates its arguments.
 */
export function movePlayer(state, stick, boosted, d) {
  const c = d.config;
  const r = c.player_radius;
  const top = c.max_speed * (boosted ? c.speed_boost_mult : 1.0);
  let ix = stick.mx;
  let iy = stick.my;
  const mag = Math.hypot(ix, iy);
  if (mag > 1.0) {
    ix /= mag;
    iy /= mag;
  }
  const tx = ix * top;
  const ty = iy * top;
  const rate = mag > 0.0 ? d.accelStep : d.frictionStep;
  const ex = tx - state.vx;
  const ey = ty - state.vy;
  const gap = Math.hypot(ex, ey);
  let vx;
  let vy;
  if (gap <= rate) {
    vx = tx;
    vy = ty;
  } else {
    vx = state.vx + (ex / gap) * rate;
    vy = state.vy + (ey / gap) * rate;
  }
  const speed = Math.hypot(vx, vy);
  if (speed > top) {
    vx = (vx / speed) * top;
    vy = (vy / speed) * top;
  }
  let x = state.x + vx * d.dt;
  let y = state.y;
  for (const [lox, loy, hix, hiy] of d.moveWalls) {
    if (lox < x && x < hix && loy < y && y < hiy) {
      x = vx > 0.0 ? lox : hix;
      vx = 0.0;
    }
  }
  if (x < r) {
    x = r;
    vx = 0.0;
  } else if (x > d.maxX) {
    x = d.maxX;
    vx = 0.0;
  }
  y = state.y + vy * d.dt;
  for (const [lox, loy, hix, hiy] of d.moveWalls) {
    if (lox < x && x < hix && loy < y && y < hiy) {
      y = vy > 0.0 ? loy : hiy;
      vy = 0.0;
    }
  }
  if (y < r) {
    y = r;
    vy = 0.0;
  } else if (y > d.maxY) {
    y = d.maxY;
    vy = 0.0;
  }
  return { x, y, vx, vy };
}
