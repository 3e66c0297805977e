"""Trained word vectors and the queries on them, after gensim's ``KeyedVectors``.

:class:`WordVectors` holds the words (most frequent first for w2v, gensim and GloVe files), their
(V, D) float32 table and optionally their counts, and answers what a user asks of vectors: the row
of a word, its vector, cosine similarity, and ``most_similar`` with gensim's arithmetic, so the
same vectors give gensim's words and scores. :func:`nearest` is the batched form the evaluations
use: many query rows at once, against any table of unit rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union

import numpy as np

from w2v.ann import AnnIndex
from w2v.ann import query as ann_query
from w2v.errors import W2VError

BATCH_ELEMENTS = 1 << 24  # (queries x words) cosines per batch in nearest(): a 64 MB float32 table

# A most_similar term: a word, a raw vector, or either with its own weight (gensim's forms).
Term = Union[str, np.ndarray, tuple[Union[str, np.ndarray], float]]


@dataclass
class WordVectors:
    """Words and their vectors, in file order, with gensim-style queries.

    ``oov`` composes a vector for a word outside ``words`` (fastText's character n-grams), or is
    None; evaluations then also report their scores with unseen words composed.
    """

    words: list[str]
    matrix: np.ndarray  # (V, D) float32
    counts: np.ndarray | None = None  # (V,) int64 corpus counts, when the source has them
    name: str = "vectors"
    source: str = ""
    oov: Callable[[str], np.ndarray | None] | None = field(default=None, repr=False)
    _cache: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)  # derived lookups, by (kind, restrict)

    def __post_init__(self) -> None:
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(self.words):
            raise W2VError(f"{self.name}: {len(self.words)} words but a vector table of shape {self.matrix.shape}")
        if self.counts is not None:
            self.counts = np.asarray(self.counts, dtype=np.int64)
            if self.counts.shape != (len(self.words),):
                raise W2VError(f"{self.name}: {len(self.words)} words but {self.counts.shape} counts")

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        """Exact (case-sensitive) membership, as gensim's ``key in kv``."""
        return word in self.index

    def __getitem__(self, word: str | Sequence[str]) -> np.ndarray:
        """A word's (D,) vector, or the (n, D) vectors of a list of words (gensim's ``kv[word]``)."""
        if isinstance(word, str):
            return self.matrix[self.row(word)]
        return self.matrix[[self.row(w) for w in word]]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @cached_property
    def index(self) -> dict[str, int]:
        """Exact word -> row (the first row if a word repeats)."""
        return _first_index(self.words)

    @cached_property
    def norms(self) -> np.ndarray:
        """(V,) float32 L2 norms, as gensim's ``fill_norms``."""
        return np.linalg.norm(self.matrix, axis=1)

    @cached_property
    def unit(self) -> np.ndarray:
        """(V, D) unit-length rows (gensim's ``get_vector(norm=True)``); all-zero rows stay zero."""
        norms = self.norms[:, None]
        return np.divide(self.matrix, norms, out=np.zeros_like(self.matrix), where=norms > 0)

    def row(self, word: str) -> int:
        """The row of ``word``; an unknown word is one line naming it and any case variant."""
        row = self.index.get(word)
        if row is not None:
            return row
        folded = word.casefold()
        variant = next((w for w in self.words if w.casefold() == folded), None)  # only on an error: a linear scan is fine
        hint = f"; did you mean {variant!r}? (words are case-sensitive)" if variant else ""
        raise W2VError(f"unknown word {word!r}: it is not among the {len(self)} words of {self.name}{hint}")

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words (gensim's ``similarity``)."""
        return float(self.unit[self.row(a)] @ self.unit[self.row(b)])

    def most_similar(
        self,
        positive: Term | Sequence[Term] = (),
        negative: Term | Sequence[Term] = (),
        topn: int = 10,
        restrict_vocab: int | None = None,
        index: AnnIndex | None = None,
    ) -> list[tuple[str, float]]:
        """gensim's ``most_similar``: the ``topn`` words by cosine to the weighted mean of the unit
        vectors of ``positive`` (weight 1) and ``negative`` (weight -1), the query words left out.

        ``index``: an approximate nearest-neighbour index over :attr:`unit` (:mod:`w2v.ann`), for
        vocabularies of millions; it finds about 98% of the exact top 10 (docs/neighbours.md).

        Computed as gensim computes it (the mean summed in float32, normalised, dotted with the raw
        table and divided by the norms; gensim's partial sort), so words, order and scores agree.
        ``restrict_vocab`` searches only the first N (most frequent) words. Words are matched exactly;
        an unknown word, no words at all, and words that cancel out are each one line.
        """
        positive, negative = _as_list(positive), _as_list(negative)
        if not positive and not negative:
            raise W2VError("no words given: pass positive=<word> (and optionally negative=<word>)")
        mean, rows = self._query(positive, negative)
        if topn < 1:
            return []
        if index is not None:
            if restrict_vocab:
                raise W2VError("restrict_vocab needs the exact search: build the index over the first N words instead")
            found, cosines = ann_query(index, mean, topn + len(rows))
            skip = set(rows)
            hits = [(int(i), float(c)) for i, c in zip(found[0], cosines[0]) if i >= 0 and i not in skip]
            return [(self.words[i], c) for i, c in hits[:topn]]
        end = len(self) if not restrict_vocab else min(restrict_vocab, len(self))
        with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero row scores nan, last, as in gensim
            sims = self.matrix[:end] @ mean / self.norms[:end]  # (end,)
        best = _gensim_argsort(-sims, topn + len(rows))  # room for the query words, which are dropped
        skip = set(rows)
        return [(self.words[i], float(sims[i])) for i in best.tolist() if i not in skip][:topn]

    def _query(self, positive: list[Term], negative: list[Term]) -> tuple[np.ndarray, list[int]]:
        """gensim's ``get_mean_vector(pre_normalize=True, post_normalize=True)``: the (D,) float32 query
        direction, and the rows of the query words (never answered)."""
        mean = np.zeros(self.dim, dtype=np.float32)
        total, rows = np.float64(0.0), []
        for term, sign in [(t, 1.0) for t in positive] + [(t, -1.0) for t in negative]:
            key, weight = term if isinstance(term, tuple) else (term, sign)
            if isinstance(key, np.ndarray):
                mean += np.float64(weight) * key  # a raw vector counts as given, not normalised (gensim)
            else:
                rows.append(self.row(key))
                mean += np.float64(weight) * self.unit[rows[-1]]
            total += abs(weight)
        mean = mean / total  # (D,) float64 from here on: gensim divides by a float64 weight
        norm = float(np.linalg.norm(mean))
        if norm == 0:
            raise W2VError(f"the query {describe_query(positive, negative)} sums to a zero vector: it has no direction to search")
        return (mean * (1.0 / norm)).astype(np.float32), rows

    def upper_index(self, restrict: int) -> dict[str, int]:
        """UPPERCASED word -> first row among the first ``restrict`` rows (gensim's case-insensitive ``ok_vocab``)."""
        key = ("upper", restrict)
        if key not in self._cache:
            self._cache[key] = _first_index([w.upper() for w in self.words[:restrict]])
        return self._cache[key]

    def canonical(self, restrict: int) -> np.ndarray:
        """(restrict,) int64: for each row, the row of its word's first case variant (``upper_index``'s value)."""
        key = ("canonical", restrict)
        if key not in self._cache:
            ok = self.upper_index(restrict)
            self._cache[key] = np.fromiter((ok[w.upper()] for w in self.words[:restrict]), dtype=np.int64, count=restrict)
        return self._cache[key]


def describe_query(positive: Sequence[Term], negative: Sequence[Term] = ()) -> str:
    """``a + b - c``: a query as the words it adds and subtracts."""
    return " + ".join(_term_name(t) for t in positive) + "".join(f" - {_term_name(t)}" for t in negative)


def _term_name(term: Term) -> str:
    key = term[0] if isinstance(term, tuple) else term
    return "<vector>" if isinstance(key, np.ndarray) else str(key)


def nearest(unit: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows of ``unit`` (N, D) by cosine to each of ``rows`` (n,), the row itself excluded.

    Returns ``(indices, cosines)``, both (n, k') with ``k' = min(k, N - 1)``, best first. The
    batched form of :meth:`WordVectors.most_similar` for one word (the same neighbours up to float
    rounding: one matrix product of unit rows), over any table of unit rows, since the evaluations
    compare neighbourhoods on the words two models share.
    """
    rows = np.asarray(rows, dtype=np.int64)
    k = min(k, unit.shape[0] - 1)
    if k < 1 or len(rows) == 0:
        return np.zeros((len(rows), 0), dtype=np.int64), np.zeros((len(rows), 0), dtype=np.float32)
    idx_out = np.empty((len(rows), k), dtype=np.int64)
    sim_out = np.empty((len(rows), k), dtype=np.float32)
    batch = max(1, BATCH_ELEMENTS // unit.shape[0])
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        sims = unit[part] @ unit.T  # (n, N)
        sims[np.arange(len(part)), part] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        idx_out[start : start + len(part)] = np.take_along_axis(top, order, axis=1)
        sim_out[start : start + len(part)] = np.take_along_axis(top_sims, order, axis=1)
    return idx_out, sim_out


def _as_list(terms: Term | Sequence[Term]) -> list[Term]:
    """One word or vector alone is a one-term query (gensim's ``_ensure_list``)."""
    return [terms] if isinstance(terms, (str, np.ndarray)) else list(terms)


def _gensim_argsort(x: np.ndarray, topn: int) -> np.ndarray:
    """gensim's ``matutils.argsort(x, topn)``: the ``topn`` smallest, in order, by the same numpy calls,
    so ties come out in gensim's order too."""
    if topn >= x.size:
        return np.argsort(x)[:topn]
    best = np.argpartition(x, topn)[:topn]
    return best.take(np.argsort(x.take(best)))


def _first_index(keys: list[str]) -> dict[str, int]:
    """key -> position of its first occurrence (later duplicates are overwritten by earlier ones)."""
    return dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
