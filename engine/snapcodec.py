"""A shared snapshot codec driven by a game's snapshot schema.

A game whose snapshot is "a few scalars, a few static keys and some entity
maps ``{id: [fields...]}``" does not need its own codec: it declares a
:class:`SnapshotSchema` and uses a :class:`SchemaCodec`. The delta format is
the arena's (``docs/protocol.md`` "Delta"), generalised:

* a delta always carries ``t``, ``tick``, ``acks`` (complete) and ``full: False``;
* each scalar key travels only when it changed; static keys never travel in deltas;
* per entity collection that changed: ``{"a": added {id: fields}, "r": removed
  ids, "m": {id: differences of the leading movable fields, trimmed after the
  last change}, "c": {id: {field index: new value}}}``, empty parts left out;
  a movable field declared ``wrap`` takes its difference modulo ``modulus``
  (sent in ``[-modulus/2, modulus/2)``).

Apply order: ``r``, ``m``, ``c``, ``a``. ``apply(decode(encode(diff(a, b))), a) == b``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import msgpack

from engine.errors import EngineError
from engine.protocol import ErrorCode


@dataclass(frozen=True)
class Collection:
    """An entity map of a snapshot: ``name -> {id: [field, ...]}``.

    ``movable`` leading fields are ints sent as differences (positions);
    ``wrap`` is the index of one of them that wraps modulo ``modulus`` (angles).
    """

    name: str
    movable: int = 0
    wrap: int | None = None
    modulus: int = 0

    def __post_init__(self) -> None:
        if self.movable < 0:
            raise EngineError(ErrorCode.BAD_CONFIG, f"{self.name}: movable must be >= 0")
        if self.wrap is not None and not (0 <= self.wrap < self.movable and self.modulus > 1):
            raise EngineError(
                ErrorCode.BAD_CONFIG,
                f"{self.name}: wrap must index a movable field, with modulus > 1",
            )


@dataclass(frozen=True)
class SnapshotSchema:
    """The shape of a game's full snapshot besides ``t``/``tick``/``acks``/``full``."""

    collections: tuple[Collection, ...]
    scalars: tuple[str, ...] = ("phase", "phase_ends")
    static: tuple[str, ...] = ()


class SchemaCodec:
    """encode/decode/diff/apply for snapshots of one :class:`SnapshotSchema`."""

    def __init__(self, schema: SnapshotSchema) -> None:
        self.schema = schema
        names = [c.name for c in schema.collections]
        keys = [*names, *schema.scalars, *schema.static]
        if len(set(keys)) != len(keys) or {"t", "tick", "acks", "full"} & set(keys):
            raise EngineError(
                ErrorCode.BAD_CONFIG, "snapshot schema keys must be unique and not t/tick/acks/full"
            )

    def encode(self, snapshot: dict[str, Any]) -> bytes:
        """A full snapshot or a delta as msgpack (``use_bin_type``)."""
        packed: bytes = msgpack.packb(snapshot, use_bin_type=True)
        return packed

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode a snapshot frame (integer map keys allowed)."""
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False)
        if not isinstance(obj, dict):
            raise ValueError("snapshot frame must be a map")
        return obj

    def diff(self, prev_full: dict[str, Any], cur_full: dict[str, Any]) -> dict[str, Any]:
        """The delta that turns ``prev_full`` into ``cur_full``; mutates neither."""
        delta: dict[str, Any] = {
            "t": "snap",
            "tick": cur_full["tick"],
            "acks": dict(cur_full["acks"]),
            "full": False,
        }
        for key in self.schema.scalars:
            if prev_full.get(key) != cur_full.get(key):
                delta[key] = cur_full[key]
        for col in self.schema.collections:
            part = diff_collection(
                prev_full.get(col.name, {}), cur_full.get(col.name, {}), col
            )
            if part:
                delta[col.name] = part
        return delta

    def apply(self, delta: dict[str, Any], prev_full: dict[str, Any]) -> dict[str, Any]:
        """The full snapshot after ``delta``; a full snapshot as ``delta`` is copied."""
        if delta.get("full"):
            return self._copy_full(delta)
        out = self._copy_full(prev_full)
        out["tick"] = delta["tick"]
        out["acks"] = dict(delta["acks"])
        for key in self.schema.scalars:
            if key in delta:
                out[key] = delta[key]
        for col in self.schema.collections:
            part = delta.get(col.name)
            if not part:
                continue
            entities: dict[int, list[Any]] = out[col.name]
            for eid in part.get("r", ()):
                entities.pop(eid, None)
            for eid, moves in part.get("m", {}).items():
                entity = entities[eid]
                for i, d in enumerate(moves):
                    entity[i] += d
                    if i == col.wrap:
                        entity[i] %= col.modulus
            for eid, fields in part.get("c", {}).items():
                entity = entities[eid]
                for i, value in fields.items():
                    entity[i] = value
            for eid, values in part.get("a", {}).items():
                entities[eid] = list(values)
        return out

    def _copy_full(self, snap: dict[str, Any]) -> dict[str, Any]:
        out = dict(snap)
        out["acks"] = dict(snap.get("acks", {}))
        for col in self.schema.collections:
            out[col.name] = {eid: list(v) for eid, v in snap.get(col.name, {}).items()}
        for key in self.schema.static:
            if key in snap:
                out[key] = copy.deepcopy(snap[key])
        return out


def diff_collection(
    prev: dict[int, list[Any]], cur: dict[int, list[Any]], col: Collection
) -> dict[str, Any]:
    """One entity map's part of a delta (``a``, ``r``, ``m``, ``c``; {} if unchanged)."""
    added: dict[int, list[Any]] = {}
    moved: dict[int, list[int]] = {}
    changed: dict[int, dict[int, Any]] = {}
    movable = col.movable
    for eid in sorted(cur):
        new = cur[eid]
        old = prev.get(eid)
        if old is None or len(old) != len(new):
            added[eid] = list(new)
            continue
        if old == new:
            continue
        # Movement is sent as the difference of the leading fields, trimmed to
        # the last one that changed: small ints are 1 byte in msgpack.
        last = -1
        for i in range(movable):
            if new[i] != old[i]:
                last = i
        if last >= 0:
            moves = [new[i] - old[i] for i in range(last + 1)]
            if col.wrap is not None and last >= col.wrap:
                # Angles take the short way round: within [-modulus/2, modulus/2).
                half = col.modulus // 2
                moves[col.wrap] = (moves[col.wrap] + half) % col.modulus - half
            moved[eid] = moves
        # Most ticks only move an entity: one comparison in C finds the
        # others, instead of a comprehension over every field.
        if new[movable:] != old[movable:]:
            changed[eid] = {i: new[i] for i in range(movable, len(new)) if new[i] != old[i]}
    removed = sorted(eid for eid in prev if eid not in cur)
    out: dict[str, Any] = {}
    if added:
        out["a"] = added
    if removed:
        out["r"] = removed
    if moved:
        out["m"] = moved
    if changed:
        out["c"] = changed
    return out
