"""Rounds: the stretches of an epoch after which training counts its progress.

The trainer's epoch loop (:meth:`w2v.train.trainer.Trainer.fit`) reads stream items cut into rounds by
:class:`RoundEnd` markers. In one process a round is one item; under torchrun it is
:func:`round_blocks`'s span of global blocks, after which the ranks reduce their counts and merge
their tables (:mod:`w2v.train.strategy`).

Round ``j`` of an epoch spans global blocks ``[s + j*k*W, s + (j+1)*k*W)`` (``s`` the epoch's start
block, ``k`` blocks per rank, ``W`` ranks); block ``b`` goes to rank ``b mod W``. Every rank knows the
number of rounds without a collective, a rank without blocks in a round still joins it, and after
each round the trained blocks are a prefix of the epoch: the checkpoint's position is one block number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from w2v.data.batches import ExampleBatch, StreamItem


@dataclass(frozen=True)
class RoundEnd:
    """The end of a round: the stream position (worker -> next (block, batch)) once its items are counted."""

    start: dict[int, tuple[int, int]]


@dataclass
class Round:
    """One round of an epoch: this rank's blocks, each with the batches to skip, and the epoch's next block after it."""

    blocks: list[tuple[int, int]]
    next_block: int


def round_blocks(heldout: np.ndarray, rank: int, world: int, per_rank: int, start: tuple[int, int] = (0, 0)) -> list[Round]:
    """The rounds of an epoch that starts at global block ``start[0]`` (its first ``start[1]`` batches done).

    Round ``j`` spans global blocks ``[s + j*per_rank*world, s + (j+1)*per_rank*world)``; block ``b``
    goes to rank ``b mod world``; held-out blocks are skipped (they keep their place). The rounds
    depend only on the arguments, so every rank gets the same number of them.
    """
    n_blocks, (first, skip) = len(heldout), start
    span = per_rank * world
    return [
        Round([(b, skip if b == first else 0) for b in range(lo, min(lo + span, n_blocks)) if b % world == rank and not heldout[b]],
              min(lo + span, n_blocks))
        for lo in range(first, n_blocks, span)
    ]  # fmt: skip


def round_items(stream: Any, rounds: list[Round]) -> Iterator[ExampleBatch | RoundEnd]:
    """The batches of each round's blocks, then its end (also for a rank with no blocks in the round)."""
    for r in rounds:
        for block, skip in r.blocks:
            yield from stream.iter_block(block, skip)
        yield RoundEnd({0: (r.next_block, 0)})


def item_rounds(items: Iterator[StreamItem]) -> Iterator[StreamItem | RoundEnd]:
    """One process's rounds: every item is a round of its own, ended at its worker's next position."""
    for item in items:
        yield item
        yield RoundEnd({item.worker: item.resume_at()})
