"""Phrases under torchrun: the counts of a phrase pass merged over all ranks.

Each rank holds the id file of its own share, with its own provisional word ids. A phrase pass
(:func:`w2v.data.phrases.phrase_pass`) scores pairs on the counts of the whole corpus, so the ranks
merge them first, here:

- **Words.** ``all_gather_object`` of every rank's (words, counts), merged by word
  (:func:`w2v.train.dist.merge_by_word`): every rank gets the same global word ids and counts.
- **Pairs.** The distinct pairs (16 bytes each) are the big table. Each one is keyed by global word
  ids and owned by rank ``key mod W``; every rank sends each owner its part (``gather_object``, one
  per owner), so a rank holds its own pairs plus a 1/W share of the merged table, never all of it.
  Each owner sums the counts of its pairs and scores them; gensim's ``len_vocab`` needs the number of
  distinct pairs of the whole corpus, one all-reduce of the owners' counts.
- **Phrases.** The owners' phrases (few) are gathered on every rank, so all ranks rewrite their
  sentences with the same phrase set.

A sentence lies wholly on one rank and phrases never cross a sentence, so with the same counts
every sentence is rewritten as one process rewrites it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.distributed as dist

from w2v.train.dist import DistContext, all_reduce_sum, collective, merge_by_word


def _sum_by_key(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``keys`` and the summed ``counts`` of each (exact int64)."""
    if not len(keys):
        return keys.astype(np.int64), counts.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order].astype(np.int64)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts)


class RankCounts:
    """:class:`w2v.data.phrases.CountMerger` over the ranks of a torchrun job (every rank calls each method in turn)."""

    def __init__(self, ctx: DistContext):
        self.ctx = ctx

    def words(self, words: list[str], counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(this rank's word id -> global word id, every global word's count in all shares)."""
        shares: list[Any] = [None] * self.ctx.world
        with collective(self.ctx, "merging the phrase pass's word counts"):
            dist.all_gather_object(shares, (words, counts))
        index, merged = merge_by_word(shares)
        return np.fromiter((index[w] for w in words), dtype=np.int64, count=len(words)), merged

    def pairs(self, keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The pairs this rank owns (``key mod W == rank``) with all ranks' counts, and the number of distinct pairs in all."""
        world, rank = self.ctx.world, self.ctx.rank
        owner = keys % world
        mine: list[Any] = []
        with collective(self.ctx, "merging the phrase pass's pair counts"):
            for dst in range(world):
                part = owner == dst
                box: list[Any] | None = [None] * world if dst == rank else None
                dist.gather_object((keys[part], counts[part]), box, dst=dst)
                if box is not None:
                    mine = box
        own_keys, own_counts = _sum_by_key(np.concatenate([k for k, _ in mine]), np.concatenate([c for _, c in mine]))
        (n_pairs,) = all_reduce_sum(self.ctx, [float(len(own_keys))], "the distinct pairs")
        return own_keys, own_counts, int(n_pairs)

    def phrases(self, keys: np.ndarray) -> np.ndarray:
        """Every owner's phrases, sorted: the same array on every rank."""
        found: list[Any] = [None] * self.ctx.world
        with collective(self.ctx, "gathering the phrases"):
            dist.all_gather_object(found, keys)
        return np.sort(np.concatenate([np.asarray(k, dtype=np.int64) for k in found]))

    def total(self, n: int) -> int:
        """``n`` summed over the ranks (token counts: exact in float64 below 2**53)."""
        return int(all_reduce_sum(self.ctx, [float(n)], "the phrase pass's token counts")[0])
