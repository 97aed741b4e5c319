"""The paddle game's input frame: which way to move the paddle.

Wire form: ``{"t": "input", "seq", "dir"}`` with ``dir`` one of -1, 0, 1
(toward the lower coordinate along the player's side, stop, toward the
higher one). The envelope (``t``, ``seq``) is shared by every game.
"""

from __future__ import annotations

from pydantic import Field

from engine.protocol import InputBase, encode


class PaddleInput(InputBase):
    """``{"t": "input", "seq", "dir"}``: ``dir`` is an int in ``{-1, 0, 1}`` (bools rejected)."""

    dir: int = Field(ge=-1, le=1)


def input_frame(seq: int, dir: int) -> bytes:
    """Client builder (bots, tests): an encoded paddle ``input`` frame."""
    return encode({"t": "input", "seq": seq, "dir": dir})
