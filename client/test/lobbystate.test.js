import { test } from "node:test";
import assert from "node:assert/strict";
import { LobbyState, playUrl } from "../static/client/js/sdk/lobbystate.js";

test("play URLs", () => {
  assert.equal(playUrl("abc"), "/play/abc/");
  assert.equal(playUrl("abc", { spectate: true }), "/play/abc/?spectate=1");
  assert.equal(playUrl("abc", { invite: "k3y" }), "/play/abc/?invite=k3y");
});

test("rooms, presence and chat frames", () => {
  const s = new LobbyState();
  assert.equal(s.apply({ type: "rooms", rooms: [{ name: "b", players: 1, max_players: 8, phase: "waiting" }, { name: "a", players: 3, max_players: 8, phase: "playing" }] }), "rooms");
  assert.deepEqual(s.rooms.map((r) => r.name), ["a", "b"]);
  assert.equal(s.apply({ type: "presence", online: 4 }), "presence");
  assert.equal(s.online, 4);
  s.setChat([{ id: 1, text: "old" }]);
  assert.equal(s.apply({ type: "chat.message", id: 2, channel: "lobby", user: { id: 1, name: "a" }, text: "hi", ts: "" }), "chat");
  assert.equal(s.apply({ type: "chat.message", id: 2, text: "hi" }), null); // duplicate
  assert.equal(s.apply({ type: "chat.message", id: 3, channel: "room.x", text: "elsewhere" }), null);
  assert.equal(s.apply({ type: "chat.deleted", id: 1 }), "chat.deleted");
  assert.deepEqual(s.chat.map((m) => m.id), [2]);
  assert.equal(s.apply({ type: "hello" }), null);
  assert.equal(s.apply(null), null);
});

test("notifications: unread count from the list, live frames and read marks", () => {
  const s = new LobbyState();
  s.setNotifications({ notifications: [{ id: 1, kind: "k", data: {}, read: false }, { id: 2, kind: "k", data: {}, read: true }], unread: 1 });
  assert.equal(s.unread, 1);
  assert.equal(s.apply({ type: "notification", id: 3, kind: "invite", data: { room: "r" }, ts: "" }), "notifications");
  assert.equal(s.unread, 2);
  assert.equal(s.notifications[0].id, 3);
  assert.equal(s.apply({ type: "notification", id: 3, kind: "invite", data: {} }), null);
  s.apply({ type: "notifications.read", ids: [3], unread: 1 });
  assert.equal(s.unread, 1);
  assert.equal(s.notifications[0].read, true);
  s.markAllRead();
  assert.equal(s.unread, 0);
  assert.ok(s.notifications.every((n) => n.read));
});

test("games from GET /api/games; an older server without them means the arena only, and no game field", () => {
  const s = new LobbyState();
  assert.deepEqual(s.games.map((g) => g.id), ["arena"]);
  assert.deepEqual(s.gameField("arena"), {}); // not sent to a server that would refuse it
  s.setGames({ games: [
    { id: "arena", name: "Arena", tick_rate: 20, snapshot_rate: 20, min_players: 2, max_players: 8 },
    { id: "paddle", name: "Paddle", tick_rate: 60, snapshot_rate: 30, min_players: 2, max_players: 4 },
    { name: "no id" }, null,
  ] });
  assert.deepEqual(s.games.map((g) => [g.id, g.max_players]), [["arena", 8], ["paddle", 4]]);
  assert.deepEqual(s.gameField("paddle"), { game: "paddle" });
  assert.deepEqual(s.gameField("chess"), {});
  assert.equal(s.gameName("paddle"), "Paddle");
  assert.equal(s.gameName(undefined), "Arena");
  assert.equal(s.gameName("chess"), "chess");
  s.setGames(null);
  assert.deepEqual(s.games.map((g) => g.id), ["arena"]);
  assert.equal(s.registry, false);
});

test("rooms carry their game; rooms without one are the arena's", () => {
  const s = new LobbyState();
  s.apply({ type: "rooms", rooms: [{ name: "p", players: 2, max_players: 4, phase: "playing", game: "paddle" }, { name: "a", players: 1, max_players: 8, phase: "waiting" }] });
  assert.deepEqual(s.rooms.map((r) => [r.name, r.game]), [["p", "paddle"], ["a", "arena"]]);
});
