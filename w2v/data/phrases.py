"""Phrases: gensim's bigram detection, run over the encoded id file instead of Python strings.

One pass (gensim's ``Phrases`` followed by ``phrases[sentences]``):

1. count every word and every adjacent pair of words inside a sentence (the id file has -1 between
   sentences, so pairs never cross one);
2. score each pair with gensim's ``original_scorer`` or ``npmi_scorer`` on exactly the counts gensim
   would collect: ``len_vocab`` is the number of distinct words plus distinct pairs (gensim's one
   dictionary of unigrams and bigrams), ``corpus_word_count`` the number of tokens;
3. a pair whose score is ``> threshold`` is a phrase; the stream is rewritten left to right as
   ``analyze_sentence`` does (``a b c`` with both ``a_b`` and ``b_c`` phrases gives ``a_b c``), and
   each phrase becomes a new word ``a_b``.

``passes=2`` runs that on the rewritten stream again, as gensim users apply ``Phrases`` twice
(``new_york`` + ``times`` -> ``new_york_times``). Everything runs over int arrays (numpy + numba),
in chunks of whole sentences, so no Python code runs per token and memory holds one chunk plus the
table of distinct pairs (16 bytes each), never the corpus.

Under torchrun every rank runs the same passes over its own share, with the counts of all ranks: a
:class:`CountMerger` (:class:`w2v.data.rank_counts.RankCounts`) merges the word and pair counts by word before
scoring, so every rank finds the same phrases and rewrites its own sentences. One process uses
:data:`LOCAL`, where every merge is the identity.

Where this differs from gensim: no ``connector_words`` (gensim's default is none), no
``max_vocab_size`` pruning (gensim prunes only past 40M entries), and pairs are counted by word ids,
so a token that already contains the delimiter (``new_york`` in the raw text) does not share a count
with the pair ``new york`` as it does in gensim's string-keyed dictionary; the rewritten phrase does
become that same word.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numba import njit

from w2v.atomic import atomic_open
from w2v.data.vocab import SENTENCE_END, EncodedCorpus
from w2v.kernel_cache import drop_stale_kernels

drop_stale_kernels()  # before any kernel loads from numba's cache: see w2v.kernel_cache

log = logging.getLogger(__name__)

_CHUNK_IDS = 1 << 24  # ids read at a time (64 MB); chunks end at a sentence boundary


@njit(cache=True, nogil=True)
def original_score(count_a, count_b, count_ab, len_vocab, min_count):  # pragma: no cover - compiled
    """gensim's ``original_scorer``, the same float operations in the same order."""
    denom = count_a * count_b
    if denom == 0:
        return -math.inf
    return (count_ab - min_count) / float(denom) * len_vocab


@njit(cache=True, nogil=True)
def npmi_score(count_a, count_b, count_ab, min_count, corpus_word_count):  # pragma: no cover - compiled
    """gensim's ``npmi_scorer``, the same float operations in the same order."""
    if count_ab < min_count:
        return -math.inf
    total = float(corpus_word_count)
    pa = count_a / total
    pb = count_b / total
    pab = count_ab / total
    if pa * pb == 0.0 or pab == 0.0:  # gensim's ValueError branch (log of zero)
        return -math.inf
    ratio = pab / (pa * pb)
    if ratio <= 0.0:
        return -math.inf
    return math.log(ratio) / -math.log(pab)


@njit(cache=True, nogil=True)
def _scores(keys, pair_counts, counts, n_words, len_vocab, min_count, corpus_word_count, npmi):  # pragma: no cover - compiled
    out = np.empty(len(keys), dtype=np.float64)
    for i in range(len(keys)):
        a, b = keys[i] // n_words, keys[i] % n_words
        if npmi:
            out[i] = npmi_score(counts[a], counts[b], pair_counts[i], min_count, corpus_word_count)
        else:
            out[i] = original_score(counts[a], counts[b], pair_counts[i], len_vocab, min_count)
    return out


@njit(cache=True, nogil=True)
def _pair_keys(ids, n_words):  # pragma: no cover - compiled
    """Keys ``a * n_words + b`` of every adjacent in-sentence pair."""
    out = np.empty(max(0, len(ids) - 1), dtype=np.int64)
    p = 0
    for i in range(len(ids) - 1):
        a, b = ids[i], ids[i + 1]
        if a >= 0 and b >= 0:
            out[p] = a * n_words + b
            p += 1
    return out[:p]


@njit(cache=True, nogil=True)
def _apply(ids, n_words, phrase_keys, phrase_ids, out):  # pragma: no cover - compiled
    """Rewrite ``ids`` greedily left to right (gensim's ``analyze_sentence``); returns the length."""
    n, i, p = len(ids), 0, 0
    while i < n:
        a = ids[i]
        if a >= 0 and i + 1 < n and ids[i + 1] >= 0:
            key = a * n_words + ids[i + 1]
            j = np.searchsorted(phrase_keys, key)
            if j < len(phrase_keys) and phrase_keys[j] == key:
                out[p] = phrase_ids[j]
                p += 1
                i += 2
                continue
        out[p] = a
        p += 1
        i += 1
    return p


def _chunks(path: Path):
    """Int32 id arrays of whole sentences (the last chunk may end without a separator)."""
    carry = np.zeros(0, dtype=np.int32)
    with open(path, "rb") as f:
        while True:
            raw = np.fromfile(f, dtype=np.int32, count=_CHUNK_IDS)
            if not len(raw):
                break
            data = np.concatenate([carry, raw]) if len(carry) else raw
            ends = np.flatnonzero(data == SENTENCE_END)
            # Cut after the last separator; a sentence longer than a chunk is cut here (one pair lost).
            cut = int(ends[-1]) + 1 if len(ends) else len(data)
            yield data[:cut]
            carry = data[cut:]
    if len(carry):
        yield carry


def _merge_counts(keys: np.ndarray, counts: np.ndarray, new_keys: np.ndarray, new_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(keys):
        return new_keys, new_counts
    all_keys = np.concatenate([keys, new_keys])
    uniq, inverse = np.unique(all_keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=np.concatenate([counts, new_counts]).astype(np.float64)).astype(np.int64)


def count_pairs(path: Path, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct adjacent in-sentence pairs of the id file as sorted keys ``a * n_words + b`` and counts."""
    keys = counts = np.zeros(0, dtype=np.int64)
    for chunk in _chunks(path):
        chunk_keys, chunk_counts = np.unique(_pair_keys(chunk, n_words), return_counts=True)
        keys, counts = _merge_counts(keys, counts, chunk_keys, chunk_counts.astype(np.int64))
    return keys, counts


def score_pairs(
    keys: np.ndarray, pair_counts: np.ndarray, word_counts: np.ndarray, pcfg: Any, n_tokens: int, n_pairs: int | None = None
) -> np.ndarray:
    """gensim's score of every pair, on gensim's counts (see the module docstring).

    ``n_pairs``: the distinct pairs of the whole corpus when ``keys`` holds only some of them (one
    rank's part under torchrun); None = ``len(keys)``.
    """
    n_words = len(word_counts)
    len_vocab = int(np.count_nonzero(word_counts)) + (len(keys) if n_pairs is None else n_pairs)
    return _scores(keys, pair_counts, word_counts, n_words, len_vocab, pcfg.min_count, n_tokens, pcfg.scoring == "npmi")


class CountMerger(Protocol):
    """Where the counts of the corpus are: all in this process (:data:`LOCAL`), or spread over torchrun ranks."""

    def words(self, words: list[str], counts: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(this process's word id -> global word id, or None when they are the same; the corpus's count of each global word)."""
        ...

    def pairs(self, keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The pairs this process scores (sorted global keys, the corpus's counts) and the corpus's number of distinct pairs."""
        ...

    def phrases(self, keys: np.ndarray) -> np.ndarray:
        """Every process's phrases (global keys), sorted."""
        ...

    def total(self, n: int) -> int:
        """The sum of ``n`` over all processes."""
        ...


class LocalCounts:
    """One process holds the whole corpus: every merge is the identity."""

    def words(self, words: list[str], counts: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        return None, counts

    def pairs(self, keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        return keys, counts, len(keys)

    def phrases(self, keys: np.ndarray) -> np.ndarray:
        return keys

    def total(self, n: int) -> int:
        return n


LOCAL = LocalCounts()


def _local_keys(found: np.ndarray, to_global: np.ndarray | None, n_global: int, n_words: int) -> np.ndarray:
    """Global phrase keys as this process's sorted keys ``a * n_words + b``; a phrase of a word it never saw cannot occur here."""
    if to_global is None:
        return found
    g2l = np.full(n_global, -1, dtype=np.int64)
    g2l[to_global] = np.arange(n_words, dtype=np.int64)
    a, b = g2l[found // max(1, n_global)], g2l[found % max(1, n_global)]
    here = (a >= 0) & (b >= 0)
    return np.sort(a[here] * n_words + b[here])


def phrase_pass(encoded: EncodedCorpus, pcfg: Any, out_path: Path, merger: CountMerger = LOCAL) -> tuple[EncodedCorpus, int]:
    """One gensim ``Phrases`` pass over ``encoded``: find phrases, write the rewritten ids to ``out_path``.

    Returns the new corpus (phrase words appended to ``words``, counts recounted) and the number of
    phrases found (in the whole corpus). ``merger`` supplies the counts of the whole corpus when
    ``encoded`` is one torchrun rank's share; the pairs are then keyed by global word ids.
    """
    n_words = len(encoded.words)
    to_global, global_counts = merger.words(encoded.words, encoded.counts)
    n_global = len(global_counts)
    keys, pair_counts = count_pairs(encoded.path, n_words)
    if to_global is not None:  # key the pairs by global word ids
        keys = to_global[keys // max(1, n_words)] * n_global + to_global[keys % max(1, n_words)]
    keys, pair_counts, n_pairs = merger.pairs(keys, pair_counts)
    scores = score_pairs(keys, pair_counts, global_counts, pcfg, merger.total(encoded.n_tokens), n_pairs)
    found = merger.phrases(keys[scores > pcfg.threshold])  # sorted, as np.unique returns them
    phrase_keys = _local_keys(found, to_global, n_global, n_words)
    words = list(encoded.words)
    index = {w: i for i, w in enumerate(words)} if len(phrase_keys) else {}
    phrase_ids = np.empty(len(phrase_keys), dtype=np.int32)
    for j, (a, b) in enumerate(zip((phrase_keys // n_words).tolist(), (phrase_keys % n_words).tolist())):
        joined = words[a] + pcfg.delimiter + words[b]
        if joined not in index:  # a raw token spelled like the phrase is the same word
            index[joined] = len(words)
            words.append(joined)
        phrase_ids[j] = index[joined]
    counts = np.zeros(len(words), dtype=np.int64)
    n_tokens = 0
    with atomic_open(out_path, "wb") as f:
        for chunk in _chunks(encoded.path):
            out = np.empty(len(chunk), dtype=np.int32)
            n = _apply(chunk, n_words, phrase_keys, phrase_ids, out)
            out[:n].tofile(f)
            ids = out[:n][out[:n] >= 0]
            counts += np.bincount(ids, minlength=len(words))
            n_tokens += len(ids)
    return EncodedCorpus(out_path, words, counts, n_tokens, encoded.n_sentences, encoded.seconds), len(found)


def detect_phrases(encoded: EncodedCorpus, pcfg: Any, merger: CountMerger = LOCAL) -> EncodedCorpus:
    """Run ``pcfg.passes`` phrase passes (``pcfg``: the ``phrases`` config), rewriting ``encoded.path`` in place.

    ``merger``: see :func:`phrase_pass`; the log then counts the tokens of the whole corpus.
    """
    start = time.perf_counter()
    tmp = encoded.path.with_name(encoded.path.name + ".phrases")
    before = merger.total(encoded.n_tokens)
    for p in range(pcfg.passes):
        new, found = phrase_pass(encoded, pcfg, tmp, merger)
        os.replace(tmp, encoded.path)
        new.path = encoded.path
        after = merger.total(new.n_tokens)
        log.info(
            "phrases pass %d/%d: %d phrases (scoring=%s, threshold=%g, min_count=%d), %d -> %d tokens",
            p + 1, pcfg.passes, found, pcfg.scoring, pcfg.threshold, pcfg.min_count, before, after,
        )  # fmt: skip
        encoded, before = new, after
        if not found:
            break
    seconds = time.perf_counter() - start
    log.info("phrases took %.1fs", seconds)
    encoded.seconds += seconds
    return encoded
