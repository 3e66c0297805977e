"""A resumed run's state from its checkpoint (:mod:`w2v.train.checkpoint`): data, tables, optimizer.

Each check fails in one line that names the cause: a checkpoint of another model, tables of another
vocabulary or dim, optimizer state another optimizer wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2v.data.vocab import Vocab
from w2v.engines.base import Engine
from w2v.errors import W2VError
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.train.progress import Progress, position
from w2v.train.resume import resume_id_files

log = logging.getLogger(__name__)


@dataclass
class RestoredData:
    """What a resumed run reads from its checkpoint in place of counting the corpus again."""

    vocab: Vocab
    remap: np.ndarray  # provisional id -> vocabulary id (-1: below min_count)
    progress: Progress
    data_metrics: dict[str, Any]  # vocab_seconds, corpus_tokens of the run's first start
    id_files: list[Path]  # the encoded corpus the position refers to


def restore_data(state: dict[str, Any], run_dir: Path) -> RestoredData:
    """The vocabulary, id mapping, position and id files of a checkpoint (the files checked against it)."""
    vs = state["vocab"]
    corpus_counts = vs["corpus_counts"].numpy() if "corpus_counts" in vs else None  # runs started with init=
    vocab = Vocab(list(vs["words"]), vs["counts"].numpy(), corpus_counts=corpus_counts)
    remap = state["remap"].numpy()
    progress = Progress.from_state(state["progress"])
    saved = state["metrics"]
    data_metrics = {"vocab_seconds": saved.get("vocab_seconds", 0.0), "corpus_tokens": saved.get("corpus_tokens", 0)}
    id_files = resume_id_files(state, run_dir, n_remap=len(remap))
    log.info("resuming %s at epoch %d, %d words done, from %s", run_dir, progress.epoch + 1, progress.words_done,
             position(progress.start))  # fmt: skip
    return RestoredData(vocab, remap, progress, data_metrics, id_files)


def restore_model(model: Word2VecModel, spec: ModelSpec, state: dict[str, Any]) -> None:
    """Load the checkpoint's tables into ``model``, or say in one line why they do not fit it."""
    saved_spec = ModelSpec(**state.get("model_spec", ModelSpec(negatives=spec.negatives).to_dict()))
    if saved_spec != spec:
        raise W2VError(f"the checkpoint holds a {saved_spec.name} model but the run asks for {spec.name}: resume with its own settings")
    weights = state["model"]
    for key, table in model.state_dict().items():  # the input table first: its message names the usual cause
        if key not in weights:
            raise W2VError(f"the checkpoint has no model.{key}, which a {spec.name} model needs: it is damaged; start a new run")
        want, got = tuple(table.shape), tuple(weights[key].shape)
        if got != want:
            raise W2VError(
                f"checkpoint tables are {got[0]}x{got[1]} but the run needs {want[0]}x{want[1]} (model.{key}): "
                "it belongs to a different vocabulary or dim"
            )
    model.load_state_dict(weights)


def restore_optimizer(engine: Engine, state: dict[str, Any], optim: str, run_dir: Path) -> None:
    """The engine's optimizer state from the checkpoint, or one line when it does not fit this optimizer."""
    try:
        engine.load_state_dict(state.get("optimizer") or {})
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise W2VError(
            f"the checkpoint in {run_dir} holds optimizer state that does not fit optim={optim} ({first}): it is damaged; start a new run"
        ) from None
