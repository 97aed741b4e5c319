"""The arena's input frame: the stick, the aim and the trigger.

Wire form (``docs/protocol.md`` "Game frames"): ``{"t": "input", "seq", "mx",
"my", "aim", "fire", "tick"?}``. The envelope (``t``, ``seq``) is shared by
every game (:class:`engine.protocol.InputBase`); the rest is the arena's.
"""

from __future__ import annotations

import math
from typing import Any, Final

from pydantic import Field

from engine.protocol import MAX_SEQ, InputBase, encode

AIM_LIMIT: Final = 2 * math.pi
"""``aim`` is in radians within ``[-2*pi, 2*pi]``: atan2 output and one extra turn."""


class InputFrame(InputBase):
    """``{"t": "input", "seq", "mx", "my", "aim", "fire", "tick"?}``: intent for the next tick.

    ``mx``/``my`` are the stick in ``[-1, 1]`` (a longer vector is normalised
    by the engine), ``aim`` radians in ``[-2*pi, 2*pi]``, ``tick`` the snapshot
    tick the player was seeing when firing (lag compensation; optional).
    Ints are accepted for the float fields; bools are never numbers.
    """

    mx: float = Field(ge=-1.0, le=1.0)
    my: float = Field(ge=-1.0, le=1.0)
    aim: float = Field(ge=-AIM_LIMIT, le=AIM_LIMIT)
    fire: bool
    tick: int | None = Field(default=None, ge=0, lt=MAX_SEQ)


def input_frame(
    seq: int, mx: float, my: float, aim: float, fire: bool, tick: int | None = None
) -> bytes:
    """Client builder (bots, tests): an encoded arena ``input`` frame."""
    frame: dict[str, Any] = {"t": "input", "seq": seq, "mx": mx, "my": my, "aim": aim, "fire": fire}
    if tick is not None:
        frame["tick"] = tick
    return encode(frame)
