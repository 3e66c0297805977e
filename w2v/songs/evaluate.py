"""Next-song evaluation (Caselles-Dupré et al. 2018): HR@k and NDCG@k on the held-out last songs.

For each held-out playlist the song before the last one is the query; every song the model knows
except the query is ranked by cosine similarity to it, and the rank of the true last song gives
HR@k (hit if rank <= k) and NDCG@k (1 / log2(rank + 1) if hit). A held-out song or query without a
vector counts as a miss and in the OOV rate. The same cases are scored for a popularity baseline
(most played training songs first) and, optionally, gensim trained with the tutorial's settings.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from w2v.atomic import atomic_write_text
from w2v.metrics import MetricLogger
from w2v.songs.data import Split, corpus_split, load_catalog, metadata_file, playlists_file

log = logging.getLogger(__name__)

# gensim Word2Vec as the tutorial calls it; epochs, sample and ns_exponent stay gensim's defaults.
# sg comes from corpus.gensim_sg: 1 (skip-gram, like this trainer) or 0 (CBOW, the tutorial's default).
GENSIM_SETTINGS = {"vector_size": 32, "window": 20, "negative": 50, "min_count": 1}
EXAMPLE_SONG = 3822  # "Billie Jean", the tutorial's example


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Fraction of cases whose 1-based rank is <= k (misses have rank inf)."""
    return float(np.mean(ranks <= k)) if len(ranks) else 0.0


def ndcg(ranks: np.ndarray, k: int) -> float:
    """Mean of ``1 / log2(rank + 1)`` over cases ranked <= k, 0 for the others (one relevant item)."""
    if not len(ranks):
        return 0.0
    return float(np.mean(np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)))


def song_rows(words: list[str], n_songs: int) -> np.ndarray:
    """Row of each song id in the vector table, -1 for songs the model has no vector for."""
    rows = np.full(n_songs, -1, dtype=np.int64)
    for row, word in enumerate(words):
        if word.isdigit() and int(word) < n_songs:
            rows[int(word)] = row
    return rows


def similarity_ranks(vectors: np.ndarray, q_rows: np.ndarray, t_rows: np.ndarray, chunk: int = 512) -> np.ndarray:
    """1-based rank of each target among all rows but its query, by cosine similarity to the query.

    vectors: (V, D); q_rows, t_rows: (N,) rows (-1 = no vector). Returns (N,) float ranks, inf for a
    miss (missing vector, or a target equal to its query, which is never recommended).
    """
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    ranks = np.full(len(q_rows), np.inf)
    cases = np.flatnonzero((q_rows >= 0) & (t_rows >= 0) & (q_rows != t_rows))
    for lo in range(0, len(cases), chunk):
        sel = cases[lo : lo + chunk]
        sims = unit[q_rows[sel]] @ unit.T  # (C, V)
        at = np.arange(len(sel))
        sims[at, q_rows[sel]] = -np.inf  # the query never recommends itself
        target = sims[at, t_rows[sel]]  # (C,)
        ranks[sel] = 1 + (sims > target[:, None]).sum(1)
    return ranks


def popularity_ranks(counts: np.ndarray, queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rank of each target in the list of training songs by descending count, query removed."""
    order = np.argsort(-counts, kind="stable")
    pos = np.empty_like(order)
    pos[order] = np.arange(len(order))
    ranks = (pos[targets] + 1 - (pos[queries] < pos[targets])).astype(np.float64)
    return np.where((counts[targets] > 0) & (queries != targets), ranks, np.inf)


def model_ranks(words: list[str], vectors: np.ndarray, split: Split) -> tuple[np.ndarray, float]:
    """Similarity ranks of the held-out songs for one model, and its OOV rate."""
    rows = song_rows(words, len(split.counts))
    q_rows, t_rows = rows[split.queries], rows[split.targets]
    oov = float(np.mean((q_rows < 0) | (t_rows < 0))) if len(q_rows) else 0.0
    return similarity_ranks(np.asarray(vectors, dtype=np.float32), q_rows, t_rows), oov


def gensim_baseline(split: Split, sg: int, seed: int, workers: int) -> tuple[list[str], np.ndarray, float]:
    """Train gensim Word2Vec with the tutorial's settings on the training split: (words, vectors, seconds)."""
    from gensim.models import Word2Vec

    start = time.perf_counter()
    sentences = list(split.train_sentences())
    model = Word2Vec(sentences, sg=sg, seed=seed, workers=workers, **GENSIM_SETTINGS)
    return list(model.wv.index_to_key), model.wv.vectors, time.perf_counter() - start


def _scores(prefix: str, ranks: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in ks:
        out[f"{prefix}hr@{k}"] = hit_rate(ranks, k)
        out[f"{prefix}ndcg@{k}"] = ndcg(ranks, k)
    return out


def evaluate_songs(
    run_dir: str | os.PathLike, words: list[str], vectors: np.ndarray, cfg: Any, tb: MetricLogger, step: int, final: bool = True
) -> dict[str, Any]:
    """Score the run on the held-out songs; log to TensorBoard; when final, write eval.json/eval.md.

    Returns flat metrics: ``hr@10``, ``ndcg@10``, ``pop_hr@10``, ``pop_ndcg@10``, ``songs_oov``,
    ``songs_heldout`` and, with ``corpus.compare_gensim``, ``gensim_hr@10``... (and @eval.topk).
    """
    start = time.perf_counter()
    ccfg = cfg.corpus
    split = corpus_split(ccfg)
    if not len(split.held):
        log.warning("corpus.holdout=0: no song is held out, so there are no next-song metrics")
        return {}
    ks = tuple(sorted({10, int(cfg.eval.topk)}))
    ranks, oov = model_ranks(words, vectors, split)
    metrics: dict[str, Any] = {**_scores("", ranks, ks), "songs_oov": oov, "songs_heldout": len(split.held)}
    metrics.update(_scores("pop_", popularity_ranks(split.counts, split.queries, split.targets), ks))
    if final and ccfg.compare_gensim:
        sg = int(ccfg.gensim_sg)
        g_words, g_vectors, seconds = gensim_baseline(split, sg, int(cfg.seed), int(cfg.threads) or os.cpu_count() or 1)
        g_ranks, g_oov = model_ranks(g_words, g_vectors, split)
        metrics.update({**_scores("gensim_", g_ranks, ks), "gensim_oov": g_oov, "gensim_seconds": seconds, "gensim_sg": sg})
        log.info("gensim comparison (sg=%d, %s) trained in %.1fs", sg, GENSIM_SETTINGS, seconds)
    for key, value in metrics.items():
        if "@" in key:
            tb.scalar(f"eval/{key}", value, step)
    metrics["songs_eval_seconds"] = time.perf_counter() - start
    log.info("songs: %s", _summary(metrics))
    if final:
        _write_reports(Path(run_dir), words, vectors, cfg, split, metrics)
    return metrics


def _summary(m: dict[str, Any]) -> str:
    line = f"hr@10 {m['hr@10']:.4f} ndcg@10 {m['ndcg@10']:.4f} (popularity {m['pop_hr@10']:.4f} / {m['pop_ndcg@10']:.4f}"
    if "gensim_hr@10" in m:
        line += f", gensim {m['gensim_hr@10']:.4f} / {m['gensim_ndcg@10']:.4f}"
    return line + f") on {m['songs_heldout']} held-out songs (OOV: {100 * m['songs_oov']:.1f}%)"


def _write_reports(run_dir: Path, words: list[str], vectors: np.ndarray, cfg: Any, split: Split, metrics: dict[str, Any]) -> None:
    ccfg = cfg.corpus
    info = {
        "playlists_file": str(playlists_file(ccfg)),
        "playlists": len(split.train),
        "holdout": float(ccfg.holdout),
        "holdout_seed": int(ccfg.holdout_seed),
        "songs_ranked": len(words),
        "gensim_settings": {**GENSIM_SETTINGS, "sg": metrics["gensim_sg"]} if "gensim_hr@10" in metrics else None,
    }
    atomic_write_text(run_dir / "eval.json", json.dumps({"metrics": metrics, "split": info}, indent=2) + "\n")
    atomic_write_text(run_dir / "eval.md", _report_md(words, vectors, ccfg, split, metrics, info))


def _report_md(words: list[str], vectors: np.ndarray, ccfg: Any, split: Split, m: dict[str, Any], info: dict[str, Any]) -> str:
    prefix = f" (those inside the corpus.max_tokens={ccfg.max_tokens} prefix)" if ccfg.max_tokens else ""
    lines = [
        "# Next-song evaluation",
        "",
        f"Last song of {info['holdout']:.0%} of {info['playlists']} playlists held out (corpus.holdout={info['holdout']}, "
        f"seed {info['holdout_seed']}); {len(split.held)} of them evaluated{prefix}: all {info['songs_ranked']} songs "
        "ranked by cosine similarity to the song before it (the query itself excluded).",
        "",
        "| method | HR@10 | NDCG@10 | OOV |",
        "|---|---|---|---|",
        f"| w2v (this run) | {m['hr@10']:.4f} | {m['ndcg@10']:.4f} | {100 * m['songs_oov']:.1f}% |",
        f"| popularity | {m['pop_hr@10']:.4f} | {m['pop_ndcg@10']:.4f} | |",
    ]
    if "gensim_hr@10" in m:
        name = f"gensim sg={m['gensim_sg']}, tutorial settings"
        lines.append(f"| {name} | {m['gensim_hr@10']:.4f} | {m['gensim_ndcg@10']:.4f} | {100 * m['gensim_oov']:.1f}% |")
    lines += ["", *_example_md(words, vectors, ccfg)]
    return "\n".join(lines) + "\n"


def _example_md(words: list[str], vectors: np.ndarray, ccfg: Any, topn: int = 10) -> list[str]:
    """Nearest songs to the tutorial's example (or the most played song) with titles, for a quick look."""
    from w2v.songs.recommend import nearest

    song = str(EXAMPLE_SONG) if str(EXAMPLE_SONG) in words else words[0]
    catalog = load_catalog(metadata_file(ccfg))
    title, artist = catalog.describe(int(song))
    lines = [f"## Nearest songs to {song} {_md(title)} - {_md(artist)}", "", "| id | similarity | title | artist |", "|---|---|---|---|"]
    for other, sim in nearest(words, vectors, [song], [], topn):
        title, artist = catalog.describe(int(other))
        lines.append(f"| {other} | {sim:.3f} | {_md(title)} | {_md(artist)} |")
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|")
