import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { closeInfo, backoffMs, gameSocketUrl, FrameSocket } from "../static/client/js/sdk/socket.js";

test("close codes: which reconnect", () => {
  for (const code of [1000, 1009, 4001, 4003, 4004, 4008, 4010, 4011]) assert.equal(closeInfo(code).reconnect, false, String(code));
  for (const code of [1006, 1011, 1012, 1013, 4009]) assert.equal(closeInfo(code).reconnect, true, String(code));
  assert.match(closeInfo(4003).message, /full or private/);
  assert.match(closeInfo(4004).message, /gone/);
});

test("backoff doubles up to 8 s with jitter", () => {
  assert.equal(backoffMs(0, () => 0.5), 500);
  assert.equal(backoffMs(1, () => 0.5), 1000);
  assert.equal(backoffMs(10, () => 0.5), 8000);
  assert.equal(backoffMs(3, () => 0), 3200);
});

test("game socket URL carries spectate and invite", () => {
  const loc = { protocol: "https:", host: "example.test" };
  assert.equal(gameSocketUrl(loc, "r-1"), "wss://example.test/ws/game/r-1/");
  assert.equal(gameSocketUrl({ protocol: "http:", host: "h:1" }, "r", { spectate: true, invite: "a b" }), "ws://h:1/ws/game/r/?spectate=1&invite=a+b");
});

class FakeWs {
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 1;
    FakeWs.last = this;
  }
  send(b) {
    this.sent.push(b);
  }
  close() {}
}

test("frame socket: msgpack both ways, artificial lag delays both directions", async () => {
  const s = new FrameSocket("ws://x/", { lagMs: 30, WebSocketImpl: FakeWs });
  const got = [];
  s.onFrame = (f, n) => got.push([f, n]);
  const t0 = Date.now();
  s.send({ t: "ping", id: 1 });
  assert.equal(FakeWs.last.sent.length, 0);
  FakeWs.last.onmessage({ data: encode({ t: "pong", id: 1 }).slice().buffer });
  assert.equal(got.length, 0);
  await new Promise((r) => setTimeout(r, 45));
  assert.ok(Date.now() - t0 >= 30);
  assert.equal(FakeWs.last.sent.length, 1);
  assert.deepEqual(got[0][0], { t: "pong", id: 1 });
  const bad = [];
  s.onBadFrame = (e) => bad.push(e);
  s.lagMs = 0;
  s.receive("text");
  s.receive(new Uint8Array([0xc1]).buffer);
  assert.equal(bad.length, 2);
});
