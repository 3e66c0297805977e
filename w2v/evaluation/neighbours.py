"""Nearest neighbours by cosine, and how closely our neighbourhoods match GloVe's.

The comparison follows the word2vec tutorial this project reproduces, where GloVe's
(``glove-wiki-gigaword-50``) neighbours of "king" are prince, queen, ii, emperor, son ... The side-by-side
table shows each model's own neighbours over its whole vocabulary. The summary metrics are computed
over the words both models know (matched case-insensitively), so a smaller vocabulary is not
penalised for words it cannot have:

* ``overlap``: mean |ours ∩ GloVe| / k of the top-k neighbour lists of the query words;
* ``overlap_frequent``: the same for a fixed random sample of frequent shared words;
* ``cosine_spearman``: Spearman correlation of the cosines of sampled pairs of frequent shared words.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from w2v.vectors import WordVectors, nearest

log = logging.getLogger(__name__)

# Royalty, countries and capitals, numbers, verbs, technology, music, and a few everyday nouns.
DEFAULT_QUERIES = (
    "king",
    "queen",
    "prince",
    "france",
    "germany",
    "china",
    "paris",
    "one",
    "two",
    "hundred",
    "run",
    "write",
    "think",
    "computer",
    "internet",
    "software",
    "music",
    "guitar",
    "jazz",
    "water",
)


def neighbours_of(vecs: WordVectors, words: list[str], k: int) -> dict[str, list[tuple[str, float]]]:
    """``word -> [(neighbour, cosine), ...]`` for each of ``words`` in ``vecs`` (case-insensitive)."""
    ok = vecs.upper_index(len(vecs))
    found = [w for w in words if w.upper() in ok]
    idx, sims = nearest(vecs.unit, np.array([ok[w.upper()] for w in found], dtype=np.int64), k)
    return {w: [(vecs.words[j], float(s)) for j, s in zip(idx[i], sims[i])] for i, w in enumerate(found)}


@dataclass
class GloveComparison:
    k: int
    shared: int  # words both models know
    queries: list[str]  # query words both models know
    overlap: float | None
    overlap_frequent: float | None
    sample: int  # frequent shared words sampled
    cosine_spearman: float | None
    pairs: int
    ours: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # each model's own neighbours
    glove: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def _shared_rows(ours: WordVectors, glove: WordVectors, restrict: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows in ``ours`` and in ``glove`` of the words both know, in our (frequency) order."""
    g = glove.upper_index(len(glove))
    mine = ours.upper_index(min(restrict, len(ours)))
    pairs = sorted((i, g[w]) for w, i in mine.items() if w in g)
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    arr = np.asarray(pairs, dtype=np.int64)
    return arr[:, 0], arr[:, 1]


def _overlap(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size == 0 or a.shape[1] == 0:
        return None
    return float(np.mean([len(set(x.tolist()) & set(y.tolist())) / a.shape[1] for x, y in zip(a, b)]))


def compare_with_glove(
    ours: WordVectors,
    glove: WordVectors,
    queries: list[str] | tuple[str, ...] = DEFAULT_QUERIES,
    k: int = 10,
    sample: int = 1000,
    pairs: int = 10000,
    frequent: int = 10000,
    seed: int = 0,
    restrict_vocab: int = 300000,
) -> GloveComparison:
    """Neighbour lists side by side and the three agreement metrics (see the module docstring)."""
    from scipy import stats  # imported here: it takes a second, and error paths need none of it

    rows_o, rows_g = _shared_rows(ours, glove, restrict_vocab)
    unit_o, unit_g = ours.unit[rows_o], glove.unit[rows_g]  # (S, D) and (S, D')
    position = {ours.words[r].upper(): i for i, r in enumerate(rows_o)}
    query_words = [q for q in queries if q.upper() in position]
    q_pos = np.array([position[q.upper()] for q in query_words], dtype=np.int64)
    overlap = _overlap(nearest(unit_o, q_pos, k)[0], nearest(unit_g, q_pos, k)[0])

    rng = np.random.default_rng(seed)
    pool = min(frequent, len(rows_o))  # sample among the most frequent shared words
    picked = rng.choice(pool, size=min(sample, pool), replace=False) if pool else np.zeros(0, dtype=np.int64)
    overlap_frequent = _overlap(nearest(unit_o, picked, k)[0], nearest(unit_g, picked, k)[0])

    spearman, n_pairs = None, 0
    if pool >= 3:
        i, j = rng.integers(0, pool, size=(2, pairs))
        keep = i != j
        i, j = i[keep], j[keep]
        cos_o = np.einsum("ij,ij->i", unit_o[i], unit_o[j])
        cos_g = np.einsum("ij,ij->i", unit_g[i], unit_g[j])
        n_pairs = len(i)
        value = float(stats.spearmanr(cos_o, cos_g)[0]) if n_pairs >= 2 else math.nan
        spearman = value if math.isfinite(value) else None

    shown = [q for q in queries if q.upper() in ours.upper_index(len(ours))]
    return GloveComparison(
        k=k,
        shared=len(rows_o),
        queries=query_words,
        overlap=overlap,
        overlap_frequent=overlap_frequent,
        sample=len(picked),
        cosine_spearman=spearman,
        pairs=n_pairs,
        ours=neighbours_of(ours, shown, k),
        glove=neighbours_of(glove, shown, k),
    )


def format_side_by_side(left: dict[str, list[tuple[str, float]]], right: dict[str, list[tuple[str, float]]], names: tuple[str, str]) -> str:
    """A terminal table: per query word, its rank-ordered neighbours in both models with their cosines."""
    words = [w for lists in (left, right) for ns in lists.values() for w, _ in ns]
    width = max([len(w) for w in words] + [len(n) - 7 for n in names] + [10])
    cell = width + 7  # word, space, cosine
    lines = [f"{'':<5}{names[0]:<{cell}}   {names[1]}"]
    for query in left:
        lines.append(f"{query}")
        l_ns, r_ns = left.get(query, []), right.get(query, [])
        for rank in range(max(len(l_ns), len(r_ns), 1)):
            lw = f"{l_ns[rank][0]:<{width}} {l_ns[rank][1]:6.3f}" if rank < len(l_ns) else ""
            rw = f"{r_ns[rank][0]:<{width}} {r_ns[rank][1]:6.3f}" if rank < len(r_ns) else ""
            if rank == 0 and not r_ns:
                rw = f"(not in {names[1]})"
            lines.append(f"{rank + 1:>3}  {lw:<{cell}}   {rw}".rstrip())
    return "\n".join(lines)
