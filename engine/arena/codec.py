"""Snapshot wire format: quantization, full snapshots, deltas.

A snapshot is a plain dict of ints, strings and lists (already quantized) that
msgpack encodes as is. :func:`diff` turns two full snapshots into a delta and
:func:`apply` turns a delta back into the next full snapshot, so that for any
full snapshots ``a`` and ``b``::

    apply(decode(encode(diff(a, b))), a) == b

The exact format (every key, unit and quantization) is documented in
``docs/protocol.md`` section "Snapshots"; the browser client ports
:func:`apply` from there, so keep the two in step.
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgpack

from engine.snapcodec import Collection, diff_collection

POS_SCALE: Final = 8
"""Positions and velocities travel as ints in 1/8 world unit."""
AIM_STEPS: Final = 256
"""Angles travel as ints in 1/256 turn, in ``[0, 256)``."""

COLLECTIONS: Final = ("players", "projectiles", "pickups")
"""Entity maps of a snapshot, each ``{id: [fields...]}``."""
MOVABLE: Final[dict[str, int]] = {"players": 3, "projectiles": 0, "pickups": 0}
"""How many leading fields of an entity a delta's ``"m"`` may carry as differences.

Players: x, y, aim. Projectiles and pickups never change after they appear.
"""

WRAPPED: Final[dict[str, int]] = {"players": 2}
"""The field (aim) whose "m" difference wraps: new = (old + d) mod AIM_STEPS."""

# Player array: [x, y, aim, hp, flags, kills, deaths, score, name]
P_X, P_Y, P_AIM, P_HP, P_FLAGS, P_KILLS, P_DEATHS, P_SCORE, P_NAME = range(9)
FLAG_ALIVE: Final = 1
FLAG_BOOST: Final = 2
# Projectile array: [x0, y0, vx, vy, t0, owner]; position at tick T = (x0 + vx*(T-t0), ...)
# Pickup array: [x, y, kind]
PICKUP_KINDS: Final = ("health", "speed")


def q_pos(value: float) -> int:
    """World units -> wire int (1/8 unit, round half to even)."""
    return round(value * POS_SCALE)


def q_aim(radians: float) -> int:
    """Radians -> wire int in ``[0, AIM_STEPS)``."""
    return round(radians / (2 * math.pi) * AIM_STEPS) % AIM_STEPS


def encode(snapshot: dict[str, Any]) -> bytes:
    """Encode a full snapshot or a delta as msgpack (``use_bin_type``)."""
    packed: bytes = msgpack.packb(snapshot, use_bin_type=True)
    return packed


def decode(data: bytes) -> dict[str, Any]:
    """Decode a snapshot frame (integer map keys allowed)."""
    obj = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if not isinstance(obj, dict):
        raise ValueError("snapshot frame must be a map")
    return obj


_COLLECTIONS: Final = {
    name: Collection(name, MOVABLE[name], WRAPPED.get(name), AIM_STEPS if name in WRAPPED else 0)
    for name in COLLECTIONS
}
"""The arena's entity maps in the shared codec's terms (engine.snapcodec: the same delta)."""


def diff(prev_full: dict[str, Any], cur_full: dict[str, Any]) -> dict[str, Any]:
    """The delta that turns ``prev_full`` into ``cur_full`` (both full snapshots).

    Always carries ``t``, ``tick``, ``acks`` (all of them) and ``full: False``;
    ``phase``/``phase_ends`` only when they changed; one entry per entity
    collection that changed, ``{"a": added, "r": removed ids, "m": moves,
    "c": changed fields}`` with empty parts left out. ``map`` never travels in
    deltas. Does not mutate its arguments.
    """
    delta: dict[str, Any] = {
        "t": "snap",
        "tick": cur_full["tick"],
        "acks": dict(cur_full["acks"]),
        "full": False,
    }
    for key in ("phase", "phase_ends"):
        if prev_full.get(key) != cur_full.get(key):
            delta[key] = cur_full[key]
    for name in COLLECTIONS:
        part = diff_collection(prev_full.get(name, {}), cur_full.get(name, {}), _COLLECTIONS[name])
        if part:
            delta[name] = part
    return delta


def apply(delta: dict[str, Any], prev_full: dict[str, Any]) -> dict[str, Any]:
    """Apply a delta (from :func:`diff`, possibly decoded) to the full snapshot it was made from.

    Returns a new full snapshot; neither argument is mutated. A full snapshot
    passed as ``delta`` is returned as a copy (it replaces the state).
    """
    if delta.get("full"):
        return _copy_full(delta)
    out = _copy_full(prev_full)
    out["tick"] = delta["tick"]
    out["acks"] = dict(delta["acks"])
    for key in ("phase", "phase_ends"):
        if key in delta:
            out[key] = delta[key]
    for name in COLLECTIONS:
        part = delta.get(name)
        if not part:
            continue
        entities: dict[int, list[Any]] = out[name]
        for eid in part.get("r", ()):
            entities.pop(eid, None)
        wrap = WRAPPED.get(name)
        for eid, moves in part.get("m", {}).items():
            entity = entities[eid]
            for i, d in enumerate(moves):
                entity[i] += d
                if i == wrap:
                    entity[i] %= AIM_STEPS
        for eid, fields in part.get("c", {}).items():
            entity = entities[eid]
            for i, value in fields.items():
                entity[i] = value
        for eid, values in part.get("a", {}).items():
            entities[eid] = list(values)
    return out


def _copy_full(snap: dict[str, Any]) -> dict[str, Any]:
    """Copy deep enough that mutating entity lists never touches ``snap``."""
    out = dict(snap)
    out["acks"] = dict(snap.get("acks", {}))
    for name in COLLECTIONS:
        out[name] = {eid: list(values) for eid, values in snap.get(name, {}).items()}
    if "map" in snap:
        width, height, walls = snap["map"]
        out["map"] = [width, height, [list(w) for w in walls]]
    return out
