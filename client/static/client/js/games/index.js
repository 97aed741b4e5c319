/**
 * The known game client modules: a fixed map from game id to a module of this
 * directory, plus the games the server offers. The play page loads the one
 * `welcome.game` names through loadGame().
 *
 * A game outside the map (one made with `manage.py startgame` and registered
 * in GAMES) is loaded from `./<id>.js` in this directory only when its id is
 * in the list the server rendered into the page (`offered-games`, the ids of
 * GAMES) AND is a slug (`[a-z0-9_]{1,32}`). Anything else the server might
 * send is refused, never turned into a URL.
 */
import { checkPlugin } from "../sdk/plugin.js";

export const DEFAULT_GAME = "arena";

const MODULES = new Map([
  ["arena", () => import("./arena.js")],
  ["paddle", () => import("./paddle.js")],
]);

/** A game id the page may turn into `./<id>.js`: lowercase letters, digits, `_`; 1-32 long. */
export const GAME_ID_RE = /^[a-z0-9_]{1,32}$/;

/** Ids with a client module in the fixed map. */
export function knownGames() {
  return [...MODULES.keys()];
}

/**
 * The game ids the server offers, from the page's `<script id="offered-games"
 * type="application/json">` (client/templates/client/game.html); [] without a page.
 */
export function offeredGames(doc = globalThis.document) {
  const node = doc && typeof doc.getElementById === "function" ? doc.getElementById("offered-games") : null;
  if (!node) return [];
  try {
    const ids = JSON.parse(node.textContent);
    return Array.isArray(ids) ? ids.filter((id) => typeof id === "string" && GAME_ID_RE.test(id)) : [];
  } catch {
    return [];
  }
}

/** A game this client cannot play (the page shows the message). */
export class UnknownGameError extends Error {
  constructor(id) {
    super(`This page cannot play the game "${String(id).slice(0, 40)}": reload, or update the client.`);
    this.gameId = id;
  }
}

/** The game id a welcome frame names: `welcome.game`, or the arena for older servers without it. */
export function gameIdOf(welcome) {
  return welcome && welcome.game !== undefined && welcome.game !== null ? welcome.game : DEFAULT_GAME;
}

const importModule = (specifier) => import(specifier);

/** The loader of an id: the fixed map's, or `./<id>.js` for an offered slug; null otherwise. */
function loaderFor(id, offered, load) {
  if (typeof id !== "string") return null;
  const known = MODULES.get(id);
  if (known) return known;
  if (!GAME_ID_RE.test(id) || !Array.isArray(offered) || !offered.includes(id)) return null;
  return () => load(`./${id}.js`);
}

/**
 * The plug-in of a game id; rejects with UnknownGameError for an id neither in
 * the map nor offered by the server (as a slug). `options.offered` replaces
 * the page's list and `options.importModule` the dynamic import (tests).
 */
export async function loadGame(id, { offered = offeredGames(), importModule: load = importModule } = {}) {
  const loader = loaderFor(id, offered, load);
  if (!loader) throw new UnknownGameError(id);
  const mod = await loader();
  const game = checkPlugin(mod.default);
  if (game.id !== id) throw new Error(`module for ${id} declares id ${game.id}`);
  return game;
}
