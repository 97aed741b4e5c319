"""How a bot plays each game: one small policy module per game id.

The bot core (:mod:`load_tests.bot`) is game-independent: it connects, keeps
the decoded state of its room (through the game's codec from
:mod:`engine.registry`), measures, and every ``1 / input_rate`` s asks its
player policy for the fields of the next ``input`` frame. What a person of
that game would send lives here, in ``load_tests/policies/<game id>.py``,
which defines ``POLICY``, a :class:`Policy`:

* ``input_rate``: inputs per second a person's client sends;
* ``new_player(rng, tracking)``: one person's behaviour (a :class:`PlayerPolicy`);
  ``tracking`` is the bot's draw against ``--track-fraction`` (the arena
  decodes state only for those; a game whose players must see the state to
  play at all ignores it);
* ``chat_lines``: what chatty players say.

:func:`get_policy` finds the module by id; a game without one is an error
the CLI reports before anything connects.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class PlayerPolicy(Protocol):
    """One simulated person of some game."""

    wants_state: bool
    """Whether the bot must decode full state (full snapshot + codec deltas) for it."""

    def fields(self, now: float, rng: random.Random, state: dict[str, Any] | None,
               pid: int | None, last_tick: int | None) -> dict[str, Any]:
        """The game's fields of the next ``input`` frame (the core adds ``t`` and ``seq``).

        ``now``: seconds since the swarm started; ``state``: the room's decoded
        full state as of the last snapshot (None if not tracked or not yet
        known); ``pid``: the bot's player id; ``last_tick``: the last snapshot's tick.
        """
        ...


@dataclass(frozen=True)
class Policy:
    """A game's bot behaviour (see the module docstring)."""

    game: str
    input_rate: float
    new_player: Callable[[random.Random, bool], PlayerPolicy]
    chat_lines: tuple[str, ...]


class PolicyError(LookupError):
    """No bot policy for a game id."""


def get_policy(game_id: str) -> Policy:
    """The policy of ``game_id`` (``load_tests.policies.<id>.POLICY``); :class:`PolicyError`."""
    if not game_id.isidentifier() or game_id.startswith("_"):
        raise PolicyError(f"no bot policy for game {game_id!r}")
    try:
        module = importlib.import_module(f"{__name__}.{game_id}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{game_id}":
            raise
        raise PolicyError(f"no bot policy for game {game_id!r} "
                          f"(expected load_tests/policies/{game_id}.py)") from None
    policy = getattr(module, "POLICY", None)
    if not isinstance(policy, Policy) or policy.game != game_id:
        raise PolicyError(f"load_tests/policies/{game_id}.py defines no POLICY for {game_id!r}")
    return policy
