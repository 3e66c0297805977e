"""fastText's character n-grams (Bojanowski et al. 2017), hashed exactly as fastText and gensim hash them.

A word is wrapped as ``<word>``; its n-grams are the substrings of ``min_n`` to ``max_n`` *characters*
of the wrapped word, cut on UTF-8 character boundaries (fastText's ``computeSubwords``, gensim's
``compute_ngrams_bytes``), and each n-gram's bucket is its FNV-1a hash modulo ``bucket``. The hash
has fastText's byte quirk: each byte is sign-extended (``int8``) before the XOR, so n-grams with
non-ASCII bytes hash as fastText's C++ does (gensim's ``ft_hash_bytes``), which keeps the buckets,
and so the vectors, interchangeable with fastText and gensim.

:func:`word_bags` precomputes, once per vocabulary, every word's *bag* of input rows as a CSR table:
the word's own row ``w`` then its n-gram rows ``V + bucket_id`` (the input table holds the V word rows
first, then the ``bucket`` n-gram rows, as fastText's ``input_`` matrix and the Facebook ``.bin`` do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_MASK32 = 0xFFFFFFFF


def ft_hash(data: bytes) -> int:
    """fastText's 32-bit FNV-1a hash of ``data``, each byte sign-extended first (gensim's ``ft_hash_bytes``)."""
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ ((b - 256 if b > 127 else b) & _MASK32)) * _FNV_PRIME) & _MASK32
    return h


def ngrams(word: str, min_n: int, max_n: int) -> list[bytes]:
    """The UTF-8 n-grams of ``<word>`` of ``min_n``..``max_n`` characters, in fastText's order.

    Starting at every character, n-grams grow one character at a time; a 1-gram that is the ``<`` or
    ``>`` marker is left out (fastText's rule, only reachable with ``min_n=1``).
    """
    data = f"<{word}>".encode()
    out = []
    size = len(data)
    for i in range(size):
        if data[i] & 0xC0 == 0x80:  # a continuation byte: not the start of a character
            continue
        j, n = i, 1
        while j < size and n <= max_n:
            j += 1
            while j < size and data[j] & 0xC0 == 0x80:
                j += 1
            if n >= min_n and not (n == 1 and (i == 0 or j == size)):
                out.append(data[i:j])
            n += 1
    return out


def ngram_buckets(word: str, min_n: int, max_n: int, bucket: int) -> list[int]:
    """The bucket of each n-gram of ``word`` (gensim's ``ft_ngram_hashes``), with repeats, in order."""
    return [ft_hash(g) % bucket for g in ngrams(word, min_n, max_n)]


@dataclass(frozen=True)
class SubwordSpec:
    """The n-gram settings (gensim's ``min_n``, ``max_n``, ``bucket``)."""

    min_n: int = 3
    max_n: int = 6
    bucket: int = 2_000_000

    @classmethod
    def from_config(cls, sub: object) -> SubwordSpec:
        return cls(int(sub.min_n), int(sub.max_n), int(sub.bucket))  # type: ignore[attr-defined]


@dataclass
class WordBags:
    """Every vocabulary word's bag of input rows, as CSR: bag ``w`` is ``inputs[offsets[w]:offsets[w+1]]``.

    The first entry of each bag is the word's own row ``w``; the rest are ``V + bucket`` rows, one
    per n-gram occurrence (a repeated n-gram counts twice, as in fastText and gensim).
    """

    inputs: torch.Tensor  # (N,) int64
    offsets: torch.Tensor  # (V+1,) int64
    spec: SubwordSpec

    @property
    def vocab_size(self) -> int:
        return len(self.offsets) - 1

    @property
    def rows(self) -> int:
        """Rows of the input table: V word rows then ``bucket`` n-gram rows."""
        return self.vocab_size + self.spec.bucket

    def to(self, device: torch.device | str) -> WordBags:
        return WordBags(self.inputs.to(device), self.offsets.to(device), self.spec)


def word_bags(words: Sequence[str], spec: SubwordSpec) -> WordBags:
    """The CSR bags of ``words`` (Python once per vocabulary word; the training stream only gathers)."""
    v = len(words)
    sizes = np.empty(v, dtype=np.int64)
    parts = []
    for w, word in enumerate(words):
        hashed = ngram_buckets(word, spec.min_n, spec.max_n, spec.bucket)
        sizes[w] = len(hashed) + 1
        parts.append(np.array([w, *(v + h for h in hashed)], dtype=np.int64))
    offsets = np.zeros(v + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    inputs = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return WordBags(torch.from_numpy(inputs), torch.from_numpy(offsets), spec)


def expand_bags(bags: WordBags, inputs: torch.Tensor, offsets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace every input word of a batch by its bag: ``(inputs, offsets)`` as a CSR over examples.

    Skip-gram (``offsets`` None, one context word per example): example ``i`` gets the bag of
    ``inputs[i]``. CBOW (``offsets`` delimits each example's context words): example ``i`` gets the
    bags of all its context words, concatenated, so the engine's mean runs over all their rows at
    once (fastText's and gensim's CBOW with n-grams).
    """
    sizes = bags.offsets[1:] - bags.offsets[:-1]  # (V,)
    word_sizes = sizes[inputs]  # (N_in,)
    cum = torch.zeros(len(inputs) + 1, dtype=torch.int64, device=inputs.device)
    torch.cumsum(word_sizes, 0, out=cum[1:])
    total = int(cum[-1])
    # Position of each output entry in bags.inputs: its word's bag start + its rank inside the bag.
    starts = torch.repeat_interleave(bags.offsets[:-1][inputs] - cum[:-1], word_sizes, output_size=total)
    rows = bags.inputs[starts + torch.arange(total, device=inputs.device)]
    return rows, cum if offsets is None else cum[offsets]


class NgramComposer:
    """Vectors for words outside the vocabulary: the mean of their n-gram rows (gensim's
    ``FastTextKeyedVectors.get_vector`` for an unseen word), or None when a word has no n-gram."""

    def __init__(self, ngram_table: np.ndarray, spec: SubwordSpec):
        self.table = ngram_table  # (bucket, D): the n-gram rows only
        self.spec = spec

    def __call__(self, word: str) -> np.ndarray | None:
        buckets = ngram_buckets(word, self.spec.min_n, self.spec.max_n, self.spec.bucket)
        if not buckets:
            return None
        return self.table[buckets].mean(axis=0, dtype=np.float64).astype(np.float32)
