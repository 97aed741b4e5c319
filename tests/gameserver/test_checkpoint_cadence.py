"""When a lease round checkpoints its rooms (`gameserver.leases.checkpoint_due`).

docs/scaling.md promises that a process killed with `kill -9` loses at most
`CHECKPOINT_SECONDS` of game time. Rounds start every `LEASE_RENEW_SECONDS`
on the loop's clock, a little late or early each time; these drive the rule
over such rounds.
"""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gameserver.leases import CHECKPOINT_SLACK_SECONDS, checkpoint_due


def checkpoints(checkpoint_s: float, renew_s: float, jitter: list[float]) -> list[float]:
    """The start times of the rounds that checkpoint, for rounds k * renew_s + jitter[k]."""
    last, taken = -float("inf"), []
    for k, late in enumerate(jitter):
        started = k * renew_s + late
        if checkpoint_due(started - last, checkpoint_s, renew_s):
            last = started
            taken.append(started)
    return taken


@settings(max_examples=300, deadline=None)
@given(checkpoint_s=st.floats(0.05, 60), renew_s=st.floats(0.05, 30), seed=st.integers(0, 2**32))
def test_checkpoints_are_never_further_apart_than_asked(
    checkpoint_s: float, renew_s: float, seed: int,
) -> None:
    rng = random.Random(seed)
    slack = renew_s / 10
    jitter = [rng.uniform(-slack, slack) for _ in range(int(4 * checkpoint_s / renew_s) + 40)]
    taken = checkpoints(checkpoint_s, renew_s, jitter)
    assert taken[0] == jitter[0], "the first round checkpoints"
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    # Never a round late: at most the asked interval, plus the rounds' own jitter
    # (rounds come every renew_s: more often than that cannot be asked for).
    assert max(gaps) <= max(checkpoint_s + CHECKPOINT_SLACK_SECONDS, renew_s) + 2 * slack
    # And not needlessly early: only when the next round would have been too late.
    assert min(gaps) > checkpoint_s - renew_s


def test_one_second_on_half_second_rounds_is_every_other_round() -> None:
    rng = random.Random(7)
    for slack in (0.0, 0.001, CHECKPOINT_SLACK_SECONDS / 2.5):
        jitter = [rng.uniform(-slack, slack) for _ in range(40)]
        taken = checkpoints(1.0, 0.5, jitter)
        assert taken == [k * 0.5 + jitter[k] for k in range(0, 40, 2)], slack
