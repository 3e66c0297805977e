"""The evaluation a training run calls after its last epoch (and each epoch with ``eval.every_epoch``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from w2v.data.vocab import Vocab
from w2v.evaluation.run import evaluate_run
from w2v.metrics import MetricLogger
from w2v.plugins import evaluator


def evaluate_vectors(
    cfg: Any,
    run_dir: Path,
    vocab: Vocab,
    vectors: np.ndarray,
    tb: MetricLogger,
    step: int,
    final: bool = True,
    out_vectors: np.ndarray | None = None,
    oov: Any = None,
) -> dict[str, Any]:
    """Evaluate a run's vectors: the corpus kind's own evaluator when it names one (songs: next-song
    metrics, which also use the output vectors), word benchmarks otherwise; returns the metrics.

    ``final`` is False for the per-epoch evaluations (``eval.every_epoch=true``), which only log.
    ``oov`` composes vectors for unseen words (character n-grams), scored beside the OOV-skipped numbers.
    """
    if not cfg.eval.enabled:
        return {}
    if cfg.corpus.evaluator:  # a corpus kind that brings its own evaluation (songs: next-song hit rate), by registered name
        return evaluator(cfg.corpus.evaluator)(run_dir, vocab.words, vectors, cfg, tb, step, final=final, out_vectors=out_vectors)
    return evaluate_run(run_dir, vocab.words, vectors, cfg.eval, tb, step, final=final, oov=oov)
