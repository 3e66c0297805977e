"""Evaluation recipes: one vector set (``evaluate_vectors``), a training run (``evaluate_run``, called by
the trainer), and the ``evaluate.py`` command (``evaluate``: files side by side, or a sweep summary).

Each recipe receives only the ``eval`` config subtree (EvalConfig in w2v/config.py).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import ListConfig

from w2v.errors import W2VError
from w2v.evaluation.analogy import Questions, evaluate_analogies, read_questions
from w2v.evaluation.data import default_analogies, resolve_path, similarity_source
from w2v.evaluation.neighbours import DEFAULT_QUERIES, compare_with_glove, format_side_by_side, neighbours_of
from w2v.evaluation.plot import PROJECTIONS, plot_projection
from w2v.evaluation.report import (
    analogy_report,
    comparison_table,
    flat_metrics,
    glove_report,
    similarity_report,
    summary_lines,
    write_reports,
)
from w2v.evaluation.similarity import WordPairs, evaluate_pairs, evaluate_pairs_composed, read_pairs
from w2v.vectors import WordVectors, default_name, load_vectors, refuse_untrusted_pickle, resolve_vectors_path

log = logging.getLogger(__name__)

MAX_PLOT_WORDS = 80
PLOT_NEIGHBOURS = 4  # each query word is drawn with this many of its nearest neighbours


def check_eval_config(ec: Any) -> None:
    """Reject ``eval.*`` values no evaluation can use, with a one-line message naming the key."""
    for key in ("restrict_vocab", "topk", "sample_words", "sample_pairs", "frequent"):
        if ec[key] < 1:
            raise W2VError(f"invalid value eval.{key}={ec[key]}: must be >= 1")
    if ec.glove_limit is not None and ec.glove_limit < 1:
        raise W2VError(f"invalid value eval.glove_limit={ec.glove_limit}: must be >= 1 or null (all words)")
    if ec.projection not in PROJECTIONS:
        raise W2VError(f"unknown eval.projection {ec.projection!r}: use {' or '.join(PROJECTIONS)}")


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.is_file() else 0


@functools.lru_cache(maxsize=4)
def _questions(path: str, mtime: int) -> Questions:
    return read_questions(path)


@functools.lru_cache(maxsize=16)
def _pairs(path: str, name: str, mtime: int) -> WordPairs:
    return read_pairs(path, name)


@functools.lru_cache(maxsize=1)
def _reference(path: str, limit: int | None, cache_dir: str | None, mtime: int) -> WordVectors:
    # Kept for the process: per-epoch evaluations and several vector sets load GloVe once.
    return load_vectors(path, name="glove", limit=limit, cache_dir=cache_dir)


def load_glove(ec: Any) -> WordVectors | None:
    """GloVe for the neighbour comparison, or None (with a log line) when it is off or absent."""
    if not ec.glove_path:
        return None
    path = resolve_path(ec.glove_path)
    if not path.exists():
        log.info("GloVe comparison skipped: %s not found (set eval.glove_path, or eval.glove_path=null to silence this)", path)
        return None
    return _reference(str(path), ec.glove_limit, ec.cache_dir, _mtime(path))


def _similarity(vecs: WordVectors, ec: Any) -> tuple[dict[str, Any], dict[str, str]]:
    results, skipped = {}, {}
    for entry in ec.similarity:
        name, path, builtin = similarity_source(str(entry))
        if builtin and not path.exists():
            skipped[name] = f"{path} not found"
            continue
        pairs = _pairs(str(path), name, _mtime(path))
        results[name] = similarity_report(evaluate_pairs(vecs, pairs, ec.restrict_vocab))
        if vecs.oov is not None:  # character n-grams: the same benchmark with unseen words composed
            results[f"{name}_oov_composed"] = similarity_report(evaluate_pairs_composed(vecs, pairs, ec.restrict_vocab))
    return results, skipped


def _plot_words(vecs: WordVectors, ec: Any) -> list[str]:
    if ec.plot_words:
        ok = vecs.upper_index(len(vecs))
        return [w for w in dict.fromkeys(ec.plot_words) if w.upper() in ok]
    queries = list(ec.queries or DEFAULT_QUERIES)
    words: list[str] = []
    for query, ns in neighbours_of(vecs, queries, PLOT_NEIGHBOURS).items():
        words += [query] + [w for w, _ in ns]
    if len(words) < 10:  # a tiny or unusual vocabulary: show its most frequent words instead
        words += vecs.words[:40]
    return list(dict.fromkeys(words))[:MAX_PLOT_WORDS]


def evaluate_vectors(vecs: WordVectors, ec: Any, glove: WordVectors | None = None, plot_path: Path | None = None) -> dict[str, Any]:
    """Analogies, similarity benchmarks, the GloVe comparison and the projection of one vector set."""
    analogies = resolve_path(ec.analogies) if ec.analogies else default_analogies()
    questions = _questions(str(analogies), _mtime(analogies))
    methods = ["3cosadd", "3cosmul"] if ec.cosmul else ["3cosadd"]
    report: dict[str, Any] = {"name": vecs.name, "source": vecs.source, "words": len(vecs), "dim": vecs.dim}
    report["analogy"] = analogy_report(evaluate_analogies(vecs, questions, ec.restrict_vocab, methods), ec.restrict_vocab)
    report["similarity"], report["skipped"] = _similarity(vecs, ec)
    if glove is not None and glove.source != vecs.source:
        comparison = compare_with_glove(
            vecs,
            glove,
            list(ec.queries or DEFAULT_QUERIES),
            ec.topk,
            ec.sample_words,
            ec.sample_pairs,
            ec.frequent,
            ec.seed,
            ec.restrict_vocab,
        )
        report["glove"] = glove_report(comparison, glove.source)
    if plot_path is not None and ec.plot:
        words = _plot_words(vecs, ec)
        if len(words) >= 2:
            ok = vecs.upper_index(len(vecs))
            points = vecs.matrix[[ok[w.upper()] for w in words]]
            title = f"{vecs.name}: {ec.projection.upper()} of {len(words)} words"
            queries = ec.plot_words or ec.queries or DEFAULT_QUERIES
            plot_projection(words, points, plot_path, ec.projection, title, ec.seed, highlight=list(queries))
            report["projection"] = plot_path.name
        else:
            log.info("projection skipped: fewer than 2 of the chosen words are in %s", vecs.name)
    report["metrics"] = flat_metrics(report)
    return report


def _log_report(report: dict[str, Any], prefix: str = "", neighbours: bool = True) -> None:
    for line in summary_lines(report):
        log.info("%s%s", prefix, line)
    glove = report.get("glove")
    if neighbours and glove and glove["neighbours"]["ours"]:
        table = format_side_by_side(glove["neighbours"]["ours"], glove["neighbours"]["glove"], (report["name"], "glove"))
        log.info("%snearest neighbours, %s vs GloVe (cosine):\n%s", prefix, report["name"], table)


def evaluate_run(
    run_dir: Path, words: list[str], vectors: np.ndarray, eval_cfg: Any, tb: Any, step: int, final: bool = True, oov: Any = None
) -> dict[str, Any]:
    """Evaluate a training run's vectors: log summaries, write ``eval/*`` scalars at ``step`` and, when
    ``final``, ``eval.json``, ``eval.md`` and ``projection.png`` into ``run_dir``. Returns flat metrics.

    ``oov`` (word -> vector or None) composes unseen words: similarity benchmarks are then also scored
    with them composed, as ``<name>_oov_composed`` beside the OOV-skipped ``<name>``."""
    check_eval_config(eval_cfg)
    run_dir = Path(run_dir)
    vecs = WordVectors(list(words), vectors, name="w2v", source=str(run_dir), oov=oov)
    report = evaluate_vectors(vecs, eval_cfg, load_glove(eval_cfg), run_dir / "projection.png" if final else None)
    _log_report(report, "" if final else f"epoch {step}: ", neighbours=final)
    tb.scalars({f"eval/{k}": v for k, v in report["metrics"].items() if not k.endswith("_oov_pct")}, step)
    if final:
        json_path, md_path = write_reports(run_dir, [report])
        log.info("evaluation written to %s and %s", json_path, md_path.name)
    return report["metrics"]


def _names(paths: Sequence[str], names: Sequence[str] | None) -> list[str]:
    if names:
        if len(names) != len(paths):
            raise W2VError(f"names has {len(names)} entries for {len(paths)} vectors: give one name per vectors path")
        chosen = [str(n) for n in names]
    else:
        chosen = [default_name(p) for p in paths]
    seen: dict[str, int] = {}
    unique = []
    for name in chosen:  # two runs called "vectors" become vectors and vectors-2
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def evaluate(cfg: Any, out_dir: str | os.PathLike) -> str:
    """``evaluate.py``: evaluate ``cfg.vectors`` (one path or a list) or summarise ``cfg.sweep``.

    Reports go to ``cfg.out`` or ``out_dir``; a sweep summary to ``cfg.out`` or the sweep directory.
    Returns the markdown table to print.
    """
    if cfg.sweep:
        from w2v.evaluation.sweep import summarize_sweep

        return summarize_sweep(cfg.sweep, cfg.sort_by, cfg.metrics, cfg.out)
    if not cfg.vectors:
        raise W2VError("nothing to evaluate: pass vectors=PATH (a run directory or vectors file), vectors=[A,B] or sweep=DIR")
    ec = cfg.eval
    check_eval_config(ec)
    many = isinstance(cfg.vectors, (list, tuple, ListConfig))
    paths = [str(p) for p in cfg.vectors] if many else [str(cfg.vectors)]
    files = [resolve_vectors_path(p) for p in paths]  # every path checked before any slow work
    if not cfg.trust_pickle:
        for file in files:
            refuse_untrusted_pickle(file)
    names = _names(paths, cfg.names)
    out = Path(cfg.out or out_dir)
    out.mkdir(parents=True, exist_ok=True)
    glove = load_glove(ec)
    reports = []
    for path, file, name in zip(paths, files, names):
        if glove is not None and file.resolve() == Path(glove.source).resolve() and cfg.limit == ec.glove_limit:
            vecs = WordVectors(glove.words, glove.matrix, name=name, source=glove.source)  # already loaded
        else:
            vecs = load_vectors(path, name=name, limit=cfg.limit, cache_dir=ec.cache_dir, trust_pickle=cfg.trust_pickle)
        plot = out / ("projection.png" if len(paths) == 1 else f"projection-{name}.png")
        report = evaluate_vectors(vecs, ec, glove, plot)
        _log_report(report, f"{name}: " if len(paths) > 1 else "")
        reports.append(report)
    json_path, md_path = write_reports(out, reports)
    log.info("evaluation written to %s and %s", json_path, md_path.name)
    return comparison_table(reports)
