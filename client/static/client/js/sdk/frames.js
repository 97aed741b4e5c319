/**
 * Game-socket frames: one binary msgpack map with a string "t" each way.
 * msgpack's integer map keys become string property names in JS; every
 * lookup in the SDK and the games uses the same strings.
 */
import { decode, encode } from "@msgpack/msgpack";

/** Decode one binary server frame into a plain object; throws if it is not a map with a string "t". */
export function decodeFrame(bytes) {
  const obj = decode(bytes);
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new TypeError("frame must be a msgpack map");
  }
  if (typeof obj.t !== "string") throw new TypeError('frame needs a string "t"');
  return obj;
}

/** Encode one client frame as msgpack bytes. */
export function encodeFrame(frame) {
  return encode(frame);
}
