"""What a torchrun round averages, and the learning rate replicas train at (pure functions, no collectives).

**Rows.** pWord2Vec (``pWord2Vec_mpi.cpp``) averages at its ``s``-th sync the ``min_sync_words * 2**z``
most frequent rows, where ``2**z`` is the largest power of two dividing ``s`` (the ruler sequence 1, 2,
1, 4, 1, 2, 1, 8, ...). The vocabulary is sorted by count, so band ``k`` (rows ``[hot * 2**(k-1),
hot * 2**k)``, band 0 = ``[0, hot)``) is averaged every ``2**k`` rounds: frequent rows, which every rank
updates all the time and which drift apart fastest, are averaged often; rare rows exponentially less
often. Here ``hot`` is ``dist.hot_rows``; ``dist.full_every`` adds a full average every that many
rounds (pWord2Vec's ``full_sync_times``), and the round loop always averages in full at the end of an
epoch and before a checkpoint.

**Learning rate.** Averaging W replicas after each made its own update moves the shared model by the
*mean* of the W updates, so each word's update reaches the model divided by W: at equal ``lr`` the
replicas learn like one process at ``lr / W``. ``dist.lr_scale`` multiplies the schedule by W
(``linear``), by sqrt(W) (``sqrt``) or leaves it (``none``); ``auto`` (the default) picks ``linear`` for
``dist.merge=average`` and ``none`` for ``dist.merge=deltas``.

**Merging.** ``dist.merge=deltas`` adds up every replica's change since the row's last merge instead of
averaging the replicas: a row only one rank touched gets exactly that rank's updates at the unscaled
rate, and a row every rank touched moves by the sum of their (stale) changes. A frequent row's change
in a round is close to the step that fits that rank's data, so the sum of W such steps overshoots by
up to W: like gradient descent at W times its best step, that is stable for W <= 2 only, and W = 3
and 4 diverged in the measurements (README), so deltas is refused above 2 ranks. With short rounds at
2 ranks it trained better vectors than the average in every measurement; with 8 blocks per round the
overshoot cost it (README). ``dist.merge=auto`` (the default) therefore picks ``deltas`` for 2 ranks
and 1 block per round, else ``average``. Deltas keeps a copy of both tables (twice their memory).
"""

from __future__ import annotations

import math

from w2v.config import LR_SCALES
from w2v.errors import W2VError


def ruler(round_no: int) -> int:
    """The largest power of two dividing ``round_no`` (1-based): 1, 2, 1, 4, 1, 2, 1, 8, ..."""
    if round_no < 1:
        raise ValueError(f"rounds count from 1, got {round_no}")
    return round_no & -round_no


def rows_at_round(round_no: int, hot_rows: int, full_every: int, n_rows: int) -> int:
    """How many of the hottest rows round ``round_no`` (1-based) averages, out of ``n_rows``.

    ``hot_rows`` = 0 averages every row every round; otherwise ``hot_rows * ruler(round_no)`` rows
    (capped at ``n_rows``), and all of them when ``full_every`` > 0 divides ``round_no``.
    """
    if hot_rows <= 0 or (full_every > 0 and round_no % full_every == 0):
        return n_rows
    return min(n_rows, hot_rows * ruler(round_no))


def band_period(row: int, hot_rows: int) -> int:
    """Every how many rounds the ruler schedule averages ``row`` (ignoring full averages): 2**band."""
    if hot_rows <= 0 or row < hot_rows:
        return 1
    return 1 << (row // hot_rows).bit_length()


def mean_rows_per_round(hot_rows: int, full_every: int, n_rows: int, rounds: int) -> float:
    """Rows averaged per round over ``rounds`` rounds (the epoch-end full average included)."""
    total = sum(rows_at_round(r, hot_rows, full_every, n_rows) for r in range(1, rounds))
    return (total + n_rows) / max(1, rounds)


def merge_for(mode: str, world: int, blocks_per_round: int) -> str:
    """The merge ``dist.merge=mode`` means for ``world`` ranks training ``blocks_per_round`` blocks per round.

    ``auto``: ``deltas`` for 2 ranks and 1-block rounds (where it was measured better), else ``average``.
    ``deltas`` above 2 ranks is a one-line error: the sum of W stale steps diverged at 3 and 4 ranks.
    """
    if mode == "auto":
        return "deltas" if world == 2 and blocks_per_round == 1 else "average"
    if mode == "deltas" and world > 2:
        raise W2VError(
            f"dist.merge=deltas sums the {world} ranks' changes of each frequent row, which overshoots by up to {world}x and "
            f"diverged at 3 and 4 ranks: use it with 2 ranks, or dist.merge=average (or auto) with {world}"
        )
    return mode


def lr_factor(mode: str, world: int, merge: str = "average") -> float:
    """The factor ``dist.lr_scale`` applies to the learning rate schedule of ``world`` ranks (1.0 for one rank).

    ``auto`` is ``linear`` for ``dist.merge=average`` (the mean divides each update by W) and ``none``
    for ``dist.merge=deltas`` (the sum of the replicas' changes keeps each update whole).
    """
    if mode == "auto":
        mode = "none" if merge == "deltas" else "linear"
    if mode == "linear":
        return float(world)
    if mode == "sqrt":
        return math.sqrt(world)
    if mode == "none":
        return 1.0
    raise ValueError(f"unknown dist.lr_scale {mode!r}: use one of {', '.join(LR_SCALES)}")
