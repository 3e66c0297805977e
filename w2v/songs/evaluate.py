"""Next-song evaluation (Caselles-Dupré et al. 2018): HR@k and NDCG@k on the held-out last songs.

For each held-out playlist the song before the last one is the query; every song the model knows
except the query is ranked, and the rank of the true last song gives HR@k (hit if rank <= k) and
NDCG@k (1 / log2(rank + 1) if hit). A held-out song or query without a vector counts as a miss and
in the OOV rate. Rankings:

- ``hr@k``: cosine similarity of the query's input vector to every song's input vector (IN-IN, the
  tutorial's ``most_similar``);
- ``inout_hr@k``: cosine of the query's input vector to every song's *output* vector (IN-OUT, Mitra
  et al. 2016, "A Dual Embedding Space Model"): the model was trained to make exactly that product
  large for songs that play near the query, so it fits next-song prediction better (negative
  sampling runs only, which have output vectors);
- ``pop_hr@k``: most played training songs first;
- ``follow_hr@k``: the songs that most often directly followed the query in training, then by
  popularity (radio stations repeat their sequences, so this is a strong baseline);
- ``gensim_hr@k`` (``corpus.compare_gensim``): gensim's Word2Vec with this run's model and settings
  (``corpus=playlists`` alone is the tutorial's exact call) on the same split, ranked IN-IN.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from w2v.atomic import atomic_write_text
from w2v.metrics import MetricLogger
from w2v.songs.data import Split, corpus_split, load_catalog, metadata_file, playlists_file
from w2v.vectors import WordVectors

log = logging.getLogger(__name__)

# The tutorial's call, Word2Vec(playlists, vector_size=32, window=20, negative=50, min_count=1), is
# CBOW (gensim's default sg=0): corpus=playlists model=cbow makes gensim_settings() return exactly it.
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


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def similarity_ranks(
    vectors: np.ndarray, q_rows: np.ndarray, t_rows: np.ndarray, chunk: int = 512, candidates: np.ndarray | None = None
) -> np.ndarray:
    """1-based rank of each target among all rows but its query, by cosine similarity to the query.

    vectors: (V, D) query vectors; candidates: (V, D) vectors the songs are ranked by (default: the
    same, IN-IN; output vectors give IN-OUT); q_rows, t_rows: (N,) rows (-1 = no vector). Returns
    (N,) float ranks, inf for a miss (missing vector, or a target equal to its query, which is never
    recommended).
    """
    unit = _unit(vectors)
    cand = unit if candidates is None else _unit(candidates)
    ranks = np.full(len(q_rows), np.inf)
    cases = np.flatnonzero((q_rows >= 0) & (t_rows >= 0) & (q_rows != t_rows))
    for lo in range(0, len(cases), chunk):
        sel = cases[lo : lo + chunk]
        sims = unit[q_rows[sel]] @ cand.T  # (C, V)
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


def follow_ranks(split: Split) -> np.ndarray:
    """Rank of each target when the songs that most often directly followed the query in training come
    first, ties and the songs that never followed it by popularity; the query itself is never ranked."""
    n_songs = len(split.counts)
    pop_pos = np.empty(n_songs, dtype=np.int64)
    pop_pos[np.argsort(-split.counts, kind="stable")] = np.arange(n_songs)
    seen = split.train if split.max_tokens is None else _prefix(split.train, split.max_tokens)  # only what training saw
    pairs = [np.stack([p[:-1], p[1:]], 1) for p in seen if len(p) > 1]
    transitions = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    transitions = transitions[np.isin(transitions[:, 0], split.queries)]
    order = np.argsort(transitions[:, 0], kind="stable")
    transitions = transitions[order]
    starts = np.searchsorted(transitions[:, 0], split.queries, side="left")
    ends = np.searchsorted(transitions[:, 0], split.queries, side="right")
    ranks = np.full(len(split.queries), np.inf)
    for i, (q, t) in enumerate(zip(split.queries.tolist(), split.targets.tolist())):
        if q == t or split.counts[t] == 0:
            continue
        follows = np.bincount(transitions[starts[i] : ends[i], 1], minlength=n_songs)
        follows[q] = -1  # the query never recommends itself
        better = (follows > follows[t]) | ((follows == follows[t]) & (pop_pos < pop_pos[t]))
        better[q] = False
        ranks[i] = 1 + int(better.sum())
    return ranks


def _prefix(playlists: list[np.ndarray], max_tokens: int) -> list[np.ndarray]:
    out, left = [], max_tokens
    for p in playlists:
        if left <= 0:
            break
        out.append(p[:left])
        left -= len(p)
    return out


def model_ranks(words: list[str], vectors: np.ndarray, split: Split, candidates: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Similarity ranks of the held-out songs for one model (IN-IN, or IN-OUT with ``candidates``), and its OOV rate."""
    rows = song_rows(words, len(split.counts))
    q_rows, t_rows = rows[split.queries], rows[split.targets]
    oov = float(np.mean((q_rows < 0) | (t_rows < 0))) if len(q_rows) else 0.0
    cand = None if candidates is None else np.asarray(candidates, dtype=np.float32)
    return similarity_ranks(np.asarray(vectors, dtype=np.float32), q_rows, t_rows, candidates=cand), oov


def gensim_settings(cfg: Any) -> dict[str, Any]:
    """gensim Word2Vec arguments equal to this run's model and hyperparameters (``corpus=playlists
    model=cbow`` gives the tutorial's call); ``corpus.gensim_sg`` overrides sg when set."""
    sg = cfg.sg if cfg.corpus.gensim_sg is None else cfg.corpus.gensim_sg
    return {
        "vector_size": int(cfg.dim), "window": int(cfg.window), "negative": int(cfg.negatives), "min_count": int(cfg.min_count),
        "sg": int(sg), "hs": int(cfg.hs), "cbow_mean": int(cfg.cbow_mean), "epochs": int(cfg.epochs), "sample": float(cfg.sample),
        "ns_exponent": float(cfg.ns_exponent), "alpha": float(cfg.lr), "min_alpha": float(cfg.min_lr),
    }  # fmt: skip


def gensim_baseline(split: Split, settings: dict[str, Any], seed: int, workers: int) -> tuple[list[str], np.ndarray, float]:
    """Train gensim Word2Vec on the training split: (words, vectors, training seconds)."""
    from gensim.models import Word2Vec

    sentences = list(split.train_sentences())
    start = time.perf_counter()
    model = Word2Vec(sentences, seed=seed, workers=workers, **settings)
    return list(model.wv.index_to_key), model.wv.vectors, time.perf_counter() - start


def _scores(prefix: str, ranks: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in ks:
        out[f"{prefix}hr@{k}"] = hit_rate(ranks, k)
        out[f"{prefix}ndcg@{k}"] = ndcg(ranks, k)
    return out


def evaluate_songs(
    run_dir: str | os.PathLike,
    words: list[str],
    vectors: np.ndarray,
    cfg: Any,
    tb: MetricLogger,
    step: int,
    final: bool = True,
    out_vectors: np.ndarray | None = None,
) -> dict[str, Any]:
    """Score the run on the held-out songs; log to TensorBoard; when final, write eval.json/eval.md.

    Returns flat metrics: ``hr@10``, ``ndcg@10``, ``pop_*``, ``follow_*``, ``songs_oov``,
    ``songs_heldout``, with ``out_vectors`` (negative sampling's output vectors) ``inout_*``, and with
    ``corpus.compare_gensim`` ``gensim_hr@10``... (and @eval.topk).
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
    if out_vectors is not None and len(out_vectors) == len(vectors):
        metrics.update(_scores("inout_", model_ranks(words, vectors, split, candidates=out_vectors)[0], ks))
    metrics.update(_scores("pop_", popularity_ranks(split.counts, split.queries, split.targets), ks))
    if final:
        metrics.update(_scores("follow_", follow_ranks(split), ks))
    if final and ccfg.compare_gensim:
        settings = gensim_settings(cfg)
        g_words, g_vectors, seconds = gensim_baseline(split, settings, int(cfg.seed), int(cfg.threads) or os.cpu_count() or 1)
        g_ranks, g_oov = model_ranks(g_words, g_vectors, split)
        metrics.update({**_scores("gensim_", g_ranks, ks), "gensim_oov": g_oov, "gensim_seconds": seconds, "gensim_sg": settings["sg"]})
        log.info("gensim comparison (%s) trained in %.1fs", settings, seconds)
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
    if "inout_hr@10" in m:
        line += f", IN-OUT {m['inout_hr@10']:.4f} / {m['inout_ndcg@10']:.4f}"
    if "follow_hr@10" in m:
        line += f", followed in training {m['follow_hr@10']:.4f} / {m['follow_ndcg@10']:.4f}"
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
        "model": {k: OmegaConf.select(cfg, k) for k in ("sg", "cbow_mean", "hs", "negatives", "window", "dim", "epochs")},
        "gensim_settings": gensim_settings(cfg) if "gensim_hr@10" in metrics else None,
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
        f"| w2v (this run), IN-IN cosine | {m['hr@10']:.4f} | {m['ndcg@10']:.4f} | {100 * m['songs_oov']:.1f}% |",
    ]
    if "inout_hr@10" in m:
        lines.append(f"| w2v (this run), IN-OUT cosine | {m['inout_hr@10']:.4f} | {m['inout_ndcg@10']:.4f} | |")
    lines.append(f"| popularity | {m['pop_hr@10']:.4f} | {m['pop_ndcg@10']:.4f} | |")
    if "follow_hr@10" in m:
        lines.append(f"| songs that followed the query in training | {m['follow_hr@10']:.4f} | {m['follow_ndcg@10']:.4f} | |")
    if "gensim_hr@10" in m:
        name = f"gensim, same model and settings (sg={m['gensim_sg']}), {m['gensim_seconds']:.0f}s"
        lines.append(f"| {name} | {m['gensim_hr@10']:.4f} | {m['gensim_ndcg@10']:.4f} | {100 * m['gensim_oov']:.1f}% |")
    lines += ["", *_example_md(words, vectors, ccfg)]
    return "\n".join(lines) + "\n"


def _example_md(words: list[str], vectors: np.ndarray, ccfg: Any, topn: int = 10) -> list[str]:
    """Nearest songs to the tutorial's example (or the most played song) with titles, for a quick look."""
    song = str(EXAMPLE_SONG) if str(EXAMPLE_SONG) in words else words[0]
    catalog = load_catalog(metadata_file(ccfg))
    title, artist = catalog.describe(int(song))
    lines = [f"## Nearest songs to {song} {_md(title)} - {_md(artist)}", "", "| id | similarity | title | artist |", "|---|---|---|---|"]
    for other, sim in WordVectors(words, vectors).most_similar([song], topn=topn):
        title, artist = catalog.describe(int(other))
        lines.append(f"| {other} | {sim:.3f} | {_md(title)} | {_md(artist)} |")
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|")
