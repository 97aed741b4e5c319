/**
 * The lobby's data (SDK), without DOM: games, rooms, chat, notifications,
 * presence. apply(frame) takes one /ws/lobby/ frame and says what changed.
 */

/** Rooms and servers that name no game are the arena's (servers before the games registry). */
export const DEFAULT_GAME = "arena";
const FALLBACK_GAMES = Object.freeze([
  Object.freeze({ id: "arena", name: "Arena", min_players: 1, max_players: 20 }),
]);

/** /play/<room>/ with ?spectate=1 / ?invite=<code> as asked. */
export function playUrl(room, { spectate = false, invite = null } = {}) {
  const params = new URLSearchParams();
  if (spectate) params.set("spectate", "1");
  if (invite) params.set("invite", invite);
  const query = params.toString();
  return `/play/${encodeURIComponent(room)}/${query ? "?" + query : ""}`;
}

const MAX_CHAT = 200;

export class LobbyState {
  constructor() {
    this.games = FALLBACK_GAMES.slice();
    this.registry = false;
    this.rooms = [];
    this.chat = [];
    this.notifications = [];
    this.unread = 0;
    this.online = null;
  }

  /**
   * From GET /api/games: {games: [{id, name, tick_rate, snapshot_rate, min_players, max_players}]}.
   * Entries without a string id are dropped; an empty or unreadable answer keeps the arena alone.
   */
  setGames(answer) {
    const list = answer && Array.isArray(answer.games) ? answer.games : [];
    const games = list
      .filter((g) => g && typeof g.id === "string" && g.id)
      .map((g) => ({
        id: g.id,
        name: typeof g.name === "string" && g.name ? g.name : g.id,
        min_players: Number.isInteger(g.min_players) ? g.min_players : 1,
        max_players: Number.isInteger(g.max_players) ? g.max_players : 20,
      }));
    this.games = games.length ? games : FALLBACK_GAMES.slice();
    // Only a server with the games registry is told which game to use (older ones refuse the field).
    this.registry = games.length > 0;
    return this.games;
  }

  /** The `game` field for POST /api/rooms and /api/matchmake: {game: id}, or {} for a server without games. */
  gameField(id) {
    return this.registry && this.game(id) ? { game: id } : {};
  }

  /** The game entry of an id (the default game for none), or null if unknown. */
  game(id) {
    const want = id === undefined || id === null ? DEFAULT_GAME : id;
    return this.games.find((g) => g.id === want) || null;
  }

  /** A room's game as shown: its name, or its id when this lobby does not know it. */
  gameName(id) {
    const g = this.game(id);
    return g ? g.name : String(id);
  }

  setRooms(rooms) {
    this.rooms = (Array.isArray(rooms) ? rooms : [])
      .filter((r) => r && typeof r.name === "string")
      .map((r) => (typeof r.game === "string" ? r : { ...r, game: DEFAULT_GAME }))
      .sort((a, b) => (a.phase === "ended") - (b.phase === "ended") || b.players - a.players || a.name.localeCompare(b.name));
  }

  /** Replace the chat with a history page (oldest first); returns it. */
  setChat(messages) {
    this.chat = (Array.isArray(messages) ? messages : []).slice(-MAX_CHAT);
    return this.chat;
  }

  /** From GET /api/notifications: {notifications: [...], unread}. */
  setNotifications(page) {
    const list = page && Array.isArray(page.notifications) ? page.notifications : [];
    this.notifications = list.slice();
    this.unread = typeof page.unread === "number" ? page.unread : list.filter((n) => !n.read).length;
  }

  markAllRead(unread = 0) {
    for (const n of this.notifications) n.read = true;
    this.unread = unread;
  }

  /**
   * One lobby frame; returns what changed: "rooms", "chat", "chat.deleted",
   * "notifications", "presence", "error", or null (ignored or duplicate).
   */
  apply(frame) {
    if (!frame || typeof frame.type !== "string") return null;
    switch (frame.type) {
      case "rooms":
        this.setRooms(frame.rooms);
        return "rooms";
      case "chat.message":
        if (frame.channel && frame.channel !== "lobby") return null;
        if (this.chat.some((m) => m.id === frame.id)) return null;
        this.chat.push(frame);
        if (this.chat.length > MAX_CHAT) this.chat.shift();
        return "chat";
      case "chat.deleted":
        this.chat = this.chat.filter((m) => m.id !== frame.id);
        return "chat.deleted";
      case "notification":
        if (this.notifications.some((n) => n.id === frame.id)) return null;
        this.notifications.unshift({ ...frame, read: false });
        this.unread += 1;
        return "notifications";
      case "notifications.read": {
        const ids = Array.isArray(frame.ids) ? new Set(frame.ids) : null;
        for (const n of this.notifications) if (ids === null || ids.has(n.id)) n.read = true;
        this.unread = typeof frame.unread === "number" ? frame.unread : this.notifications.filter((n) => !n.read).length;
        return "notifications";
      }
      case "presence":
        this.online = frame.online;
        return "presence";
      case "error":
        return "error";
      default:
        return null;
    }
  }
}
