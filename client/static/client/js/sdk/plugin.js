/**
 * The game plug-in interface: what one game's client module (games/<id>.js)
 * exports as its default export. The SDK (session, prediction,
 * interpolation, socket, net graph, the play page) does everything else.
 * docs/client.md "Writing a game's client module" has the prose.
 *
 * Coordinates are the game's own units (the arena's world units, the paddle
 * court's units); the play page scales them to the canvas with `layout`.
 *
 * @typedef {object} GamePlugin
 * @property {string} id                the game id (`welcome.game`, `GET /api/games`)
 * @property {string} name              shown on the page
 * @property {object} defaults          config the client needs (tick_rate, snapshot_rate, rules
 *   constants for prediction); `welcome.tick_rate`/`snapshot_rate`/`config` override it
 * @property {object} [schema]          the snapshot schema (sdk/schema.js defineSchema), mirroring
 *   the game's Python SnapshotSchema; or instead:
 * @property {(frame: object, prev: object|null) => object} [applySnapshot]  the game's own delta apply
 * @property {(config: object, full: object) => object} [configFromSnapshot]  config updated from a full
 *   snapshot's static keys (the arena's map, the paddle court)
 * @property {boolean} [lagCompensation] inputs carry `tick` (the render tick) for the server's rewind
 *
 * Input:
 * @property {string[]} keys            KeyboardEvent.code values the game uses (captured, default prevented)
 * @property {string[]} [pointerReleaseKeys] codes that hand aiming back from the pointer to the keyboard
 * @property {(controls: Controls, previous: object|null, own: object|null, config: object) => object} input
 *   the input fields to send now (without t/seq/tick), from the keys held and the pointer;
 *   `previous` is what it returned last time, `own` the predicted own state
 * @property {Array<[string, string]>} controls  help lines: [keys, what they do]
 * @property {string} canvasLabel       the canvas's accessible name (how to play with the keyboard)
 *
 * Prediction (pure functions; `own` is the game's own-player state):
 * @property {(full: object, playerId: number, config: object) => object|null} ownState
 *   a player's state in a full snapshot (null: not a player there)
 * @property {(own: object, input: object, config: object) => object} predict
 *   one tick of the engine's rule for that player: a new state, never mutating `own`
 * @property {(server: object, acked: object|null, previous: object|null) => object} [resume]
 *   the state to replay from: the server's, completed with what snapshots do not carry
 *   (from `acked`, the prediction after the last acknowledged input); `reset: true` = no smoothing
 * @property {(own: object) => {x: number, y: number}} ownPosition  where the own player is drawn
 * @property {number} [snapDistance]    corrections longer than this are shown at once (default: never)
 *
 * Drawing:
 * @property {(pair: {a: object, b: object, t: number, tick: number}, config: object) => object} interpolate
 *   the view at the render tick from the two states around it (sdk/interpolation.js bracket);
 *   must contain `players`: {id: {x, y, name, ...}}
 * @property {(config: object) => {w: number, h: number}} size  the game's extent, for the canvas layout
 * @property {(ctx: CanvasRenderingContext2D, frame: Frame) => void} render  draw one frame
 *   (already scaled to game units); text only through fillText
 * @property {(full: object, config: object) => {columns: string[], rows: Array<{id: number, name: string, cells: Array<string|number>}>}} scoreboard
 * @property {(event: object, full: object|null) => string} [describeEvent]  a feed line ("" = none)
 * @property {Object<string, string>} [phases]  phase id -> shown name
 *
 * @typedef {object} Controls
 * @property {Set<string>} keys          codes held now
 * @property {{x: number, y: number}|null} pointer  the pointer in game units, null when not in use
 * @property {boolean} pointerDown       primary button held
 * @property {number} frameMs            time since the previous call
 *
 * @typedef {object} Frame
 * @property {object} view               interpolate()'s result
 * @property {{x: number, y: number}|null} own  the own player's predicted position (null: spectator)
 * @property {object|null} ownState      the predicted own state
 * @property {object|null} input         the input being sent (e.g. the arena's aim)
 * @property {object|null} full          the newest full state
 * @property {number|null} me            own player id
 * @property {number} tick               the render tick
 * @property {number} scale              canvas pixels per game unit (for line widths, fonts)
 * @property {object} config
 * @property {Array<object>} results     the last match_end event's results, [] if none
 */

const REQUIRED = ["id", "name", "defaults", "keys", "input", "controls", "canvasLabel", "ownState", "predict", "ownPosition", "interpolate", "size", "render", "scoreboard"];

/** Throws an Error naming what a plug-in lacks; returns it otherwise. */
export function checkPlugin(game) {
  if (!game || typeof game !== "object") throw new Error("a game plug-in must be an object");
  const missing = REQUIRED.filter((k) => game[k] === undefined || game[k] === null);
  if (!game.schema && typeof game.applySnapshot !== "function") missing.push("schema or applySnapshot");
  if (missing.length) throw new Error(`game plug-in ${game.id ?? "?"} lacks ${missing.join(", ")}`);
  return game;
}
