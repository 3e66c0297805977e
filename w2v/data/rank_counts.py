"""The counts of a corpus spread over ranks, merged by word: the vocabulary and the phrase passes.

Each rank of a torchrun job counts its own share of the corpus into its own id file, with its own
provisional word ids (order of first occurrence in that share). Everything that needs the counts of
the whole corpus merges them here, through :class:`w2v.data.collectives.Collectives`:

- **Vocabulary** (:func:`merged_vocab`). ``all_gather_object`` of every rank's (words, counts),
  merged by word (:func:`merge_by_word`): rank 0's words in first-occurrence order, then each next
  rank's new words. The vocabulary is built from the merged counts the same way on every rank, so
  the words and their ids are identical everywhere; with one rank it is exactly
  :func:`w2v.data.vocab.build_vocab`'s (or :func:`w2v.data.vocab.merge_vocab`'s, for ``init=``).
- **Phrases** (:class:`RankCounts`, a :class:`w2v.data.phrases.CountMerger`):

  - *Words*: merged by word as above, so every rank gets the same global word ids and counts.
  - *Pairs*: the distinct pairs (16 bytes each) are the big table. Each one is keyed by global word
    ids and owned by rank ``key mod W``; every rank sends each owner its part (``gather_object``,
    one per owner), so a rank holds its own pairs plus a 1/W share of the merged table, never all of
    it. Each owner sums the counts of its pairs and scores them; gensim's ``len_vocab`` needs the
    number of distinct pairs of the whole corpus, one all-reduce of the owners' counts.
  - *Phrases*: the owners' phrases (few) are gathered on every rank, so all ranks rewrite their
    sentences with the same phrase set.

  A sentence lies wholly on one rank and phrases never cross a sentence, so with the same counts
  every sentence is rewritten as one process rewrites it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from w2v.data.collectives import Collectives
from w2v.data.vocab import EncodedCorpus, Vocab, build_vocab, merge_vocab


def merge_by_word(shares: Iterable[tuple[list[str], np.ndarray]]) -> tuple[dict[str, int], np.ndarray]:
    """Every rank's (words, counts) merged by word: word -> merged id (rank 0's words in their order, then
    each next rank's new words), and the summed counts by merged id."""
    shares = list(shares)
    index: dict[str, int] = {}
    for words, _ in shares:
        for w in words:
            index.setdefault(w, len(index))
    counts = np.zeros(len(index), dtype=np.int64)
    for words, share_counts in shares:
        np.add.at(counts, np.fromiter((index[w] for w in words), dtype=np.int64, count=len(words)), share_counts)
    return index, counts


def merged_vocab(encoded: EncodedCorpus, min_count: int, max_vocab: int | None, base: Vocab | None, comm: Collectives) -> Vocab:
    """The vocabulary of all ranks' counts, identical on every rank; ``remap`` maps this rank's provisional ids.

    With ``base`` (an ``init=`` run's vocabulary) it is :func:`w2v.data.vocab.merge_vocab` of ``base``
    and the merged counts, as one process builds it. One rank builds it from its own counts directly.
    """
    if comm.world_size == 1:  # merging by word would give the same words, counts and ids
        return build_vocab(encoded, min_count, max_vocab) if base is None else merge_vocab(base, encoded, min_count)
    shares = comm.all_gather_object((encoded.words, encoded.counts, encoded.n_tokens, encoded.n_sentences), "merging the vocabulary counts")
    index, counts = merge_by_word((s[0], s[1]) for s in shares)
    merged = EncodedCorpus(
        encoded.path, list(index), counts, sum(s[2] for s in shares), sum(s[3] for s in shares), encoded.seconds
    )  # fmt: skip
    vocab = build_vocab(merged, min_count, max_vocab) if base is None else merge_vocab(base, merged, min_count)
    assert vocab.remap is not None
    mine = np.fromiter((index[w] for w in encoded.words), dtype=np.int64, count=len(encoded.words))
    vocab.remap = vocab.remap[mine] if len(mine) else np.zeros(0, dtype=np.int32)
    return vocab


def _sum_by_key(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``keys`` and the summed ``counts`` of each (exact int64)."""
    if not len(keys):
        return keys.astype(np.int64), counts.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order].astype(np.int64)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts)


class RankCounts:
    """:class:`w2v.data.phrases.CountMerger` over the ranks of a job (every rank calls each method in turn)."""

    def __init__(self, comm: Collectives):
        self.comm = comm

    def words(self, words: list[str], counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(this rank's word id -> global word id, every global word's count in all shares)."""
        shares = self.comm.all_gather_object((words, counts), "merging the phrase pass's word counts")
        index, merged = merge_by_word(shares)
        return np.fromiter((index[w] for w in words), dtype=np.int64, count=len(words)), merged

    def pairs(self, keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The pairs this rank owns (``key mod W == rank``) with all ranks' counts, and the number of distinct pairs in all."""
        world = self.comm.world_size
        owner = keys % world
        mine: list = []
        for dst in range(world):
            part = owner == dst
            got = self.comm.gather_object((keys[part], counts[part]), dst, "merging the phrase pass's pair counts")
            if got is not None:
                mine = got
        own_keys, own_counts = _sum_by_key(np.concatenate([k for k, _ in mine]), np.concatenate([c for _, c in mine]))
        (n_pairs,) = self.comm.all_reduce_sum([float(len(own_keys))], "the distinct pairs")
        return own_keys, own_counts, int(n_pairs)

    def phrases(self, keys: np.ndarray) -> np.ndarray:
        """Every owner's phrases, sorted: the same array on every rank."""
        found = self.comm.all_gather_object(keys, "gathering the phrases")
        return np.sort(np.concatenate([np.asarray(k, dtype=np.int64) for k in found]))

    def total(self, n: int) -> int:
        """``n`` summed over the ranks (token counts: exact in float64 below 2**53)."""
        return int(self.comm.all_reduce_sum([float(n)], "the phrase pass's token counts")[0])
