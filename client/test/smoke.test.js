import { test } from "node:test";
import assert from "node:assert/strict";
import { encode, decode } from "@msgpack/msgpack";

test("msgpack round-trips a frame", () => {
  const frame = { t: "ping", id: 7 };
  assert.deepEqual(decode(encode(frame)), frame);
});
