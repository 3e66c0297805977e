"""Word analogies (a : b :: c : ?) in the Google ``questions-words.txt`` format, solved in batches.

The rules are gensim's ``KeyedVectors.evaluate_word_analogies``, so the counts agree with it:
words are compared case-insensitively (a word stands for the first, most frequent, of its case
variants); a question counts only if all four words are among the first ``restrict_vocab`` words
(others are skipped as out-of-vocabulary); candidates are those same words minus the three inputs.

3CosAdd picks ``argmax_d cos(d, b - a + c)`` (Mikolov); 3CosMul picks
``argmax_d cos'(d, b) cos'(d, c) / (cos'(d, a) + 1e-6)`` with ``cos' = (1 + cos) / 2``
(Levy & Goldberg 2014; the epsilon of gensim's ``most_similar_cosmul``). Each batch of questions is
one matrix product against the candidate table, so 19,544 questions over 70k words take seconds.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from w2v.data.corpus import open_text
from w2v.errors import W2VError
from w2v.vectors import WordVectors

log = logging.getLogger(__name__)

METHODS = ("3cosadd", "3cosmul")
COSMUL_EPS = 1e-6
TOP = 5  # gensim takes the first of its top 5 that is not a case variant of an input word
BATCH_ELEMENTS = 1 << 24  # (questions x candidates) scores per batch: a reused 64 MB float32 buffer


@dataclass
class Questions:
    """Parsed analogy questions, uppercased like gensim's case-insensitive mode."""

    path: str
    sections: list[str]
    section: np.ndarray  # (Q,) section number of each question
    words: list[tuple[str, str, str, str]]
    malformed: int = 0


def is_syntactic(section: str) -> bool:
    """Google's grammatical sections are named ``gram1-...`` to ``gram9-...``; all others are semantic."""
    return section.lower().startswith("gram")


def read_questions(path: str | os.PathLike) -> Questions:
    """Read ``: section`` headers and ``a b c d`` lines; malformed lines are skipped and counted."""
    path = Path(path)
    if not path.is_file():
        raise W2VError(f"analogy file {path} not found: fix eval.analogies (null = gensim's questions-words.txt)")
    sections: list[str] = []
    section_of: list[int] = []
    words: list[tuple[str, str, str, str]] = []
    malformed, first_bad = 0, None
    with open_text(path, "analogy file") as f:  # damaged compression: a W2VError naming the file and line
        for line_no, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith(":"):
                sections.append(text.lstrip(": ").strip())
                continue
            parts = text.upper().split()
            if len(parts) != 4 or not sections:
                malformed += 1
                first_bad = first_bad or line_no
                continue
            words.append((parts[0], parts[1], parts[2], parts[3]))
            section_of.append(len(sections) - 1)
    if malformed:
        log.warning("%s: skipped %d malformed lines (first: line %d); want ': section' then 'a b c d' lines", path, malformed, first_bad)
    if not words:
        first = f", first at line {first_bad}" if first_bad else ""
        raise W2VError(
            f"{path} has no usable analogy questions ({malformed} malformed lines{first}): want ': section' headers and 4-word lines"
        )
    return Questions(str(path), sections, np.asarray(section_of, dtype=np.int64), words, malformed)


@dataclass
class SectionScore:
    name: str
    questions: int  # questions in the file
    evaluated: int  # questions with all four words in the vocabulary cutoff
    correct: dict[str, int] = field(default_factory=dict)  # method -> correct answers


@dataclass
class AnalogyResult:
    path: str
    restrict_vocab: int  # the cutoff actually used: min(requested, vocabulary size)
    methods: list[str]
    sections: list[SectionScore]
    malformed: int
    seconds: float

    def _group(self, which: str) -> list[SectionScore]:
        if which == "total":
            return self.sections
        if which in ("semantic", "syntactic"):
            return [s for s in self.sections if is_syntactic(s.name) == (which == "syntactic")]
        return [s for s in self.sections if s.name == which]

    def counts(self, method: str, which: str = "total") -> tuple[int, int]:
        """``(correct, evaluated)`` for the whole file, ``semantic``, ``syntactic`` or one section."""
        group = self._group(which)
        return sum(s.correct[method] for s in group), sum(s.evaluated for s in group)

    def accuracy(self, method: str = "3cosadd", which: str = "total") -> float:
        """Correct / evaluated (0.0 when nothing could be evaluated, as gensim)."""
        correct, evaluated = self.counts(method, which)
        return correct / evaluated if evaluated else 0.0

    @property
    def questions(self) -> int:
        return sum(s.questions for s in self.sections)

    @property
    def oov(self) -> int:
        return sum(s.questions - s.evaluated for s in self.sections)

    @property
    def oov_pct(self) -> float:
        return 100.0 * self.oov / self.questions if self.questions else 0.0


def evaluate_analogies(
    vecs: WordVectors, questions: Questions, restrict_vocab: int = 300000, methods: tuple[str, ...] | list[str] = METHODS
) -> AnalogyResult:
    """Score every question whose words are all among the first ``restrict_vocab`` words."""
    t0 = time.perf_counter()
    for method in methods:
        if method not in METHODS:
            raise W2VError(f"unknown analogy method {method!r}: use {' or '.join(METHODS)}")
    restrict = min(restrict_vocab, len(vecs))
    ok = vecs.upper_index(restrict)
    ids = np.array([[ok.get(w, -1) for w in q] for q in questions.words], dtype=np.int64)  # (Q, 4)
    known = (ids >= 0).all(axis=1)
    n_sections = len(questions.sections)
    per_section = np.bincount(questions.section, minlength=n_sections)
    evaluated = np.bincount(questions.section[known], minlength=n_sections)
    correct_by = {}
    for method in methods:
        predicted = predict(vecs, ids[known, :3], restrict, method)
        right = vecs.canonical(restrict)[predicted] == ids[known, 3]
        correct_by[method] = np.bincount(questions.section[known][right], minlength=n_sections)
    sections = [
        SectionScore(name, int(per_section[i]), int(evaluated[i]), {m: int(correct_by[m][i]) for m in methods})
        for i, name in enumerate(questions.sections)
    ]
    return AnalogyResult(questions.path, restrict, list(methods), sections, questions.malformed, time.perf_counter() - t0)


def predict(vecs: WordVectors, abc: np.ndarray, restrict: int, method: str = "3cosadd") -> np.ndarray:
    """Answer rows for questions given as (n, 3) rows ``a, b, c`` (a : b :: c : ?), in batches whose
    (questions x candidates) score table is one reused buffer of BATCH_ELEMENTS floats."""
    restrict = min(restrict, len(vecs))
    abc = np.asarray(abc, dtype=np.int64).reshape(-1, 3)
    canon = vecs.canonical(restrict)
    variant_words = np.flatnonzero(np.bincount(canon, minlength=restrict) > 1)  # words with case variants
    unit_t = vecs.unit[:restrict].T  # (D, R): cosines are dot products with unit rows
    batch = max(1, min(len(abc), BATCH_ELEMENTS // restrict))
    buffers = np.empty((2 if method == "3cosmul" else 1, batch, restrict), dtype=np.float32)
    out = np.empty(len(abc), dtype=np.int64)
    for start in range(0, len(abc), batch):
        rows = abc[start : start + batch]
        if method == "3cosadd":
            scores = _cosadd(vecs.unit, rows, unit_t, buffers[0, : len(rows)])
        else:
            scores = _cosmul(vecs.unit, rows, unit_t, buffers[:, : len(rows)])
        r = np.arange(len(rows))
        for col in range(3):  # gensim never returns an input word itself
            scores[r, rows[:, col]] = -np.inf
        best = scores.argmax(axis=1)
        for i in np.flatnonzero(np.isin(rows, variant_words).any(axis=1)):
            best[i] = _gensim_walk(scores[i], rows[i], canon)
        out[start : start + len(rows)] = best
    return out


def _cosadd(unit: np.ndarray, abc: np.ndarray, unit_t: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(n, R) cos(d, b - a + c): gensim's weighted mean of the unit inputs, normalised, against each d."""
    query = ((unit[abc[:, 1]] + unit[abc[:, 2]]) - unit[abc[:, 0]]) / 3  # (n, D), gensim's float32 order
    query /= np.maximum(np.linalg.norm(query, axis=1, keepdims=True), np.float32(1e-30))
    return np.matmul(query, unit_t, out=out)  # one large product: BLAS runs it on all cores


def _cosmul(unit: np.ndarray, abc: np.ndarray, unit_t: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(n, R) cos'(d, b) cos'(d, c) / (cos'(d, a) + eps) with cos' = (1 + cos) / 2."""
    # A batch's questions share few words: one cosine row per distinct input word, then gather rows.
    distinct, inverse = np.unique(abc, return_inverse=True)
    inverse = inverse.reshape(abc.shape)
    shifted = unit[distinct] @ unit_t  # (U, R)
    shifted += 1
    shifted *= 0.5
    scores, denominator = out
    np.take(shifted, inverse[:, 1], axis=0, out=scores, mode="clip")  # "clip": no bounds-check copy
    scores *= np.take(shifted, inverse[:, 2], axis=0, out=denominator, mode="clip")
    np.take(shifted, inverse[:, 0], axis=0, out=denominator, mode="clip")
    denominator += COSMUL_EPS
    scores /= denominator
    return scores


def _gensim_walk(scores: np.ndarray, abc: np.ndarray, canon: np.ndarray) -> int:
    """Where an input word has case variants, follow gensim exactly: of the top 5 candidates (the
    inputs themselves already masked), the first that is not a case variant of an input, else the 5th."""
    k = min(TOP, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    inputs = set(abc.tolist())
    for cand in top:
        if canon[cand] not in inputs:
            return int(cand)
    return int(top[-1])


def answer(vecs: WordVectors, a: str, b: str, c: str, method: str = "3cosadd", restrict_vocab: int | None = None) -> str:
    """The word that completes ``a : b :: c : ?`` (one question; for exploring and tests)."""
    restrict = min(restrict_vocab or len(vecs), len(vecs))
    ok = vecs.upper_index(restrict)
    missing = [w for w in (a, b, c) if w.upper() not in ok]
    if missing:
        raise W2VError(f"{', '.join(missing)} not among the first {restrict} words of {vecs.name}")
    row = predict(vecs, np.array([[ok[a.upper()], ok[b.upper()], ok[c.upper()]]]), restrict, method)[0]
    return vecs.words[row]
