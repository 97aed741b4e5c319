/**
 * The lobby's data, without DOM: rooms, chat, notifications, presence.
 * apply(frame) takes one /ws/lobby/ frame and says what changed.
 */

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
    this.rooms = [];
    this.chat = [];
    this.notifications = [];
    this.unread = 0;
    this.online = null;
  }

  setRooms(rooms) {
    this.rooms = (Array.isArray(rooms) ? rooms : [])
      .filter((r) => r && typeof r.name === "string")
      .slice()
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
