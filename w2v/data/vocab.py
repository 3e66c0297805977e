"""Vocabulary: one counting pass that also encodes the corpus, then min_count / max_vocab.

The single pass over the text maps every token to a *provisional* id (order of first occurrence)
and writes those ids to a binary file, with -1 between sentences. Counting is a ``bincount`` of
those ids; the final vocabulary is a remapping table, so later epochs never tokenise text again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_open
from w2v.errors import W2VError

log = logging.getLogger(__name__)

SENTENCE_END = -1  # separator written between sentences in the encoded id file
_FLUSH_IDS = 1 << 20


@dataclass
class EncodedCorpus:
    """Result of the counting pass: provisional words and counts, and the id file's size."""

    path: Path
    words: list[str]
    counts: np.ndarray  # int64, by provisional id
    n_tokens: int
    n_sentences: int
    seconds: float


def take_tokens(sentences: Iterable[list[str]], max_tokens: int | None) -> Iterator[list[str]]:
    """The non-empty sentences of the corpus prefix of ``max_tokens`` tokens (all if None), the last one cut."""
    n = 0
    for sentence in sentences:
        if max_tokens is not None and n + len(sentence) > max_tokens:
            sentence = sentence[: max_tokens - n]
        if not sentence:
            if max_tokens is not None and n >= max_tokens:
                return
            continue
        n += len(sentence)
        yield sentence


def encode_corpus(sentences: Iterable[list[str]], path: Path, max_tokens: int | None = None) -> EncodedCorpus:
    """Count tokens and write provisional ids (int32, -1 between sentences) to ``path`` atomically."""
    start = time.perf_counter()
    index: defaultdict[str, int] = defaultdict()
    index.default_factory = index.__len__  # unseen word -> next id, all in C
    counts = np.zeros(0, dtype=np.int64)
    buf: list[int] = []
    n_tokens = n_sentences = 0

    def flush(f) -> None:
        nonlocal counts
        arr = np.asarray(buf, dtype=np.int32)
        arr.tofile(f)
        ids = arr[arr >= 0]
        counts = np.pad(counts, (0, len(index) - len(counts)))
        counts += np.bincount(ids, minlength=len(index))
        buf.clear()

    with atomic_open(path, "wb") as f:
        for sentence in take_tokens(sentences, max_tokens):
            buf.extend(map(index.__getitem__, sentence))
            buf.append(SENTENCE_END)
            n_tokens += len(sentence)
            n_sentences += 1
            if len(buf) >= _FLUSH_IDS:
                flush(f)
        flush(f)
    seconds = time.perf_counter() - start
    log.info(
        "counted %d tokens in %d sentences, %d distinct words, in %.1fs (%.2fM tokens/s)",
        n_tokens,
        n_sentences,
        len(index),
        seconds,
        n_tokens / max(seconds, 1e-9) / 1e6,
    )
    return EncodedCorpus(path, list(index), counts, n_tokens, n_sentences, seconds)


@dataclass
class Vocab:
    """Kept words sorted by descending count; ``remap`` turns provisional ids into vocab ids (-1 = dropped)."""

    words: list[str]
    counts: np.ndarray  # int64, descending
    remap: np.ndarray | None = None  # int32 provisional id -> vocab id or -1
    # Counts in this run's corpus when they differ from ``counts``: after a merge with an earlier run's
    # vocabulary (init=RUN_DIR), ``counts`` are the merged counts (noise distribution, Huffman tree,
    # export order) and these the new text's (subsampling, LR schedule). None = same as ``counts``.
    corpus_counts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    @property
    def train_counts(self) -> np.ndarray:
        """Counts of each word in the corpus this run trains on."""
        return self.counts if self.corpus_counts is None else self.corpus_counts

    @property
    def total(self) -> int:
        """Corpus tokens that are in the vocabulary (the words the LR schedule counts)."""
        return int(self.train_counts.sum())

    @property
    def index(self) -> dict[str, int]:
        """word -> vocab id."""
        return {w: i for i, w in enumerate(self.words)}

    def keep_probs(self, sample: float) -> np.ndarray:
        """word2vec's subsampling keep-probability ``sqrt(t/f) + t/f`` per word (1.0 when sample=0)."""
        if sample <= 0:
            return np.ones(len(self), dtype=np.float32)
        freq = self.train_counts / self.total
        with np.errstate(divide="ignore"):  # a word absent from this corpus (freq 0) is never drawn: keep 1.0
            prob = np.sqrt(sample / freq) + sample / freq
        return np.minimum(prob, 1.0).astype(np.float32)

    def noise_weights(self, ns_exponent: float) -> np.ndarray:
        """Unnormalised noise distribution ``count ** ns_exponent`` (negative exponents allowed)."""
        return np.power(self.counts.astype(np.float64), ns_exponent)

    def save_tsv(self, path: Path) -> None:
        """Write ``word \\t count`` lines in vocab order, atomically."""
        with atomic_open(path, "w") as f:
            for word, count in zip(self.words, self.counts.tolist()):
                f.write(f"{word}\t{count}\n")

    @classmethod
    def load_tsv(cls, path: Path) -> Vocab:
        """Read a ``vocab.tsv`` written by :meth:`save_tsv`."""
        words, counts = [], []
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                word, sep, count = line.rstrip("\n").rpartition("\t")
                if not sep or not count.isdigit():
                    raise W2VError(f"{path}:{lineno}: malformed vocab line {line!r}; expected 'word<TAB>count'")
                words.append(word)
                counts.append(int(count))
        return cls(words, np.asarray(counts, dtype=np.int64))


def build_vocab(encoded: EncodedCorpus, min_count: int, max_vocab: int | None = None) -> Vocab:
    """Keep words with count >= min_count (then the top ``max_vocab``), sorted by count, and report it."""
    if encoded.n_tokens == 0:
        raise W2VError("the corpus has no tokens: check corpus.path and that the files are not empty")
    counts = encoded.counts
    order = np.argsort(-counts, kind="stable")  # ties keep first-occurrence order
    order = order[counts[order] >= min_count]
    if max_vocab is not None:
        order = order[:max_vocab]
    if len(order) == 0:
        raise W2VError(
            f"no word occurs at least min_count={min_count} times ({len(counts)} distinct words, "
            f"max count {int(counts.max())}): lower min_count or use a larger corpus"
        )
    remap = np.full(len(counts), -1, dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    vocab = Vocab([encoded.words[i] for i in order.tolist()], counts[order].copy(), remap)
    kept_tokens = vocab.total
    log.info(
        "vocab: kept %d of %d unique words (%.2f%%) with min_count=%d%s, covering %d of %d tokens (%.2f%%)",
        len(vocab),
        len(counts),
        100 * len(vocab) / len(counts),
        min_count,
        f", max_vocab={max_vocab}" if max_vocab else "",
        kept_tokens,
        encoded.n_tokens,
        100 * kept_tokens / encoded.n_tokens,
    )
    return vocab


def merge_vocab(base: Vocab, encoded: EncodedCorpus, min_count: int) -> Vocab:
    """``base``'s words plus the new corpus's words with count >= min_count, merged by word (gensim's
    ``build_vocab(update=True)``).

    Counts add up. Every word of ``base`` stays, whatever its new count; a word new to ``base`` joins
    when it reaches ``min_count`` (its merged count is its new count, since ``base`` kept no count of
    it). The result is sorted by descending merged count (ties: base words first, in base order, then
    new words in order of first occurrence); ``remap`` maps the new corpus's provisional ids to it and
    ``corpus_counts`` holds the new corpus's counts.
    """
    if encoded.n_tokens == 0:
        raise W2VError("the corpus has no tokens: check corpus.path and that the files are not empty")
    index = base.index
    new_counts = encoded.counts
    base_pos = np.array([index.get(w, -1) for w in encoded.words], dtype=np.int64)  # provisional -> base id
    added = np.flatnonzero((base_pos < 0) & (new_counts >= min_count))  # provisional ids of new words
    n_base = len(base)
    words = list(base.words) + [encoded.words[i] for i in added.tolist()]
    merged = np.concatenate([base.counts, new_counts[added]]).astype(np.int64)
    corpus = np.zeros(len(words), dtype=np.int64)
    seen = base_pos >= 0
    np.add.at(corpus, base_pos[seen], new_counts[seen])
    corpus[n_base:] = new_counts[added]
    merged[:n_base] += corpus[:n_base]
    unsorted_id = np.full(len(new_counts), -1, dtype=np.int64)  # provisional -> id before sorting
    unsorted_id[seen] = base_pos[seen]
    unsorted_id[added] = n_base + np.arange(len(added))
    order = np.argsort(-merged, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    remap = np.where(unsorted_id >= 0, rank[np.maximum(unsorted_id, 0)], -1).astype(np.int32)
    vocab = Vocab([words[i] for i in order.tolist()], merged[order], remap, corpus[order])
    log.info(
        "vocab: %d words of the earlier run (%d of them in the new text) + %d new words with min_count=%d "
        "(of %d distinct in the new text) = %d; the new text's %d tokens are %.2f%% in the vocabulary",
        n_base, int(np.count_nonzero(corpus[:n_base])), len(added), min_count, len(encoded.words), len(vocab),
        encoded.n_tokens, 100 * vocab.total / encoded.n_tokens,
    )  # fmt: skip
    return vocab
