"""Word-pair similarity benchmarks (WordSim353, SimLex-999, MEN, any ``word word score`` file).

Spearman and Pearson correlations between human scores and cosine similarities, computed as
gensim's ``KeyedVectors.evaluate_word_pairs`` does (case-insensitive, first ``restrict_vocab``
words, pairs with an unknown word skipped and reported as the OOV rate), so the numbers agree.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2v.data.corpus import open_text
from w2v.errors import W2VError
from w2v.vectors import WordVectors

log = logging.getLogger(__name__)


@dataclass
class WordPairs:
    """Pairs uppercased (gensim's case-insensitive mode) with their human scores."""

    name: str
    path: str
    pairs: list[tuple[str, str]]
    gold: np.ndarray  # (P,) float64
    malformed: int = 0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_pairs(path: str | os.PathLike, name: str | None = None) -> WordPairs:
    """Read a tab- or space-separated ``word1 word2 score`` file.

    ``#`` lines are comments; a first line without a numeric score is a header; later lines that do
    not parse are skipped and counted. An error if no usable pair remains.
    """
    path = Path(path)
    if not path.is_file():
        raise W2VError(f"similarity file {path} not found: fix eval.similarity (names: wordsim353, simlex999, men, or file paths)")
    pairs: list[tuple[str, str]] = []
    gold: list[float] = []
    malformed, first_bad, seen_content = 0, None, False
    with open_text(path, "similarity file") as f:  # damaged compression: a W2VError naming the file and line
        for line_no, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = [x.strip() for x in text.split("\t")] if "\t" in text else text.split()
            score = _number(fields[2]) if len(fields) == 3 else None
            if score is None:
                if not seen_content and len(fields) == 3:
                    seen_content = True  # a header such as "word1<TAB>word2<TAB>score"
                    continue
                malformed += 1
                first_bad = first_bad or line_no
                continue
            seen_content = True
            pairs.append((fields[0].upper(), fields[1].upper()))
            gold.append(score)
    label = name or path.stem
    if malformed:
        log.warning("%s: skipped %d malformed lines (first: line %d); want 'word1 word2 score'", path, malformed, first_bad)
    if not pairs:
        first = f", first at line {first_bad}" if first_bad else ""
        raise W2VError(f"{path} has no usable word pairs ({malformed} malformed lines{first}): want 'word1 word2 score' per line")
    return WordPairs(label, str(path), pairs, np.asarray(gold, dtype=np.float64), malformed)


@dataclass
class SimilarityResult:
    name: str
    path: str
    spearman: float | None  # None when fewer than 2 pairs are in the vocabulary
    pearson: float | None
    pairs: int  # pairs used
    oov: int  # pairs skipped for an unknown word
    malformed: int

    @property
    def oov_pct(self) -> float:
        total = self.pairs + self.oov
        return 100.0 * self.oov / total if total else 0.0


def pair_cosines(vecs: WordVectors, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(n,) float32 cosine similarity of rows ``left[i]`` and ``right[i]``.

    Computed with gensim's own arithmetic (``matutils.unitvec``, then a BLAS dot per pair), so the
    correlations match ``evaluate_word_pairs`` to 1e-6 even on a few pairs; benchmarks have at most
    a few thousand pairs, so the loop costs milliseconds.
    """
    from gensim.matutils import unitvec

    units = {int(i): unitvec(vecs.matrix[i]) for i in np.unique(np.concatenate([left, right]))}
    return np.array([np.dot(units[int(a)], units[int(b)]) for a, b in zip(left, right)], dtype=np.float32)


def _correlation(fn, x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None  # undefined: too few pairs or a constant column
    value = float(fn(x, y)[0])
    return value if math.isfinite(value) else None


def evaluate_pairs(vecs: WordVectors, data: WordPairs, restrict_vocab: int = 300000) -> SimilarityResult:
    """Correlate human scores with cosines over the pairs whose words are both known."""
    from scipy import stats  # imported here: it takes a second, and error paths need none of it

    restrict = min(restrict_vocab, len(vecs))
    ok = vecs.upper_index(restrict)
    ids = np.array([[ok.get(a, -1), ok.get(b, -1)] for a, b in data.pairs], dtype=np.int64).reshape(-1, 2)
    known = (ids >= 0).all(axis=1)
    model = pair_cosines(vecs, ids[known, 0], ids[known, 1])
    gold = data.gold[known]
    return SimilarityResult(
        data.name,
        data.path,
        _correlation(stats.spearmanr, gold, model),
        _correlation(stats.pearsonr, gold, model),
        int(known.sum()),
        int((~known).sum()),
        data.malformed,
    )


def evaluate_pairs_composed(vecs: WordVectors, data: WordPairs, restrict_vocab: int = 300000) -> SimilarityResult:
    """As :func:`evaluate_pairs`, with a word outside the first ``restrict_vocab`` words composed by
    ``vecs.oov`` (fastText's n-gram vectors, from the lowercased word) instead of skipping its pair.

    ``oov`` counts the pairs still skipped: a word too short to have any n-gram gets no vector.
    """
    from scipy import stats

    if vecs.oov is None:
        raise ValueError("evaluate_pairs_composed needs vectors with an OOV composer (vecs.oov)")
    ok = vecs.upper_index(min(restrict_vocab, len(vecs)))
    cache: dict[str, np.ndarray | None] = {}

    def vector(word: str) -> np.ndarray | None:
        if word not in cache:
            row = ok.get(word)
            cache[word] = vecs.matrix[row] if row is not None else vecs.oov(word.lower())  # type: ignore[misc]
        return cache[word]

    cosines, gold = [], []
    for (a, b), score in zip(data.pairs, data.gold):
        va, vb = vector(a), vector(b)
        if va is None or vb is None:
            continue
        denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
        cosines.append(float(np.dot(va, vb)) / denom if denom > 0 else 0.0)
        gold.append(score)
    model, human = np.asarray(cosines, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    skipped = len(data.pairs) - len(cosines)
    return SimilarityResult(
        f"{data.name}_oov_composed",
        data.path,
        _correlation(stats.spearmanr, human, model),
        _correlation(stats.pearsonr, human, model),
        len(cosines),
        skipped,
        data.malformed,
    )
