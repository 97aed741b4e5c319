/**
 * The known game client modules: a fixed map from game id to a module of this
 * directory. The play page loads the one `welcome.game` names through
 * loadGame(); an id that is not a key here (or anything else the server might
 * send) is refused, never turned into a URL. A new game adds one line.
 */
import { checkPlugin } from "../sdk/plugin.js";

export const DEFAULT_GAME = "arena";

const MODULES = new Map([
  ["arena", () => import("./arena.js")],
  ["paddle", () => import("./paddle.js")],
]);

/** Ids with a client module. */
export function knownGames() {
  return [...MODULES.keys()];
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

/** The plug-in of a game id; rejects with UnknownGameError for anything not in the map. */
export async function loadGame(id) {
  const load = typeof id === "string" ? MODULES.get(id) : undefined;
  if (!load) throw new UnknownGameError(id);
  const mod = await load();
  const game = checkPlugin(mod.default);
  if (game.id !== id) throw new Error(`module for ${id} declares id ${game.id}`);
  return game;
}
