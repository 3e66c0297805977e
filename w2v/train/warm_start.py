"""Continue training on new text: ``init=RUN_DIR`` starts a new run from a finished run's tables.

gensim's ``build_vocab(new_sentences, update=True)`` followed by ``train()``, in nanoGPT's
``init_from`` shape:

- the model (``sg``, ``cbow_mean``, ``hs``, ``negatives``, ``dim``) comes from the earlier run; a
  different value set on the command line (or by a config group such as ``model=cbow``) is an error;
- the vocabulary is merged by word (:func:`w2v.data.vocab.merge_vocab`): counts add up, new words
  that reach ``min_count`` join, and the noise distribution and Huffman tree use the merged counts;
- every earlier word keeps its input and output vectors; a new word's input vector starts uniform in
  ±1/dim and its output vector at zero, as gensim initialises them;
- hierarchical softmax: the tree is rebuilt from the merged counts and inner node ``j`` keeps row
  ``j`` of the earlier ``hs_embed``, new rows zero. That is what gensim's ``update_weights`` does; where
  the merged counts reshape the tree, a row then serves a different node, so HS output rows partly
  start over;
- the learning rate schedule starts again: linear from ``lr`` (or ``init_lr`` when given) to
  ``min_lr`` over this run's words, as gensim's ``train()`` restarts at ``alpha``.

All other settings (window, sample, min_count, epochs, ...) are this run's own.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from w2v.config import TrainConfig
from w2v.data.vocab import Vocab
from w2v.errors import W2VError
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

SPEC_KEYS = ("sg", "cbow_mean", "hs", "negatives", "dim")  # what the earlier run fixes


@dataclass
class InitRun:
    """What a new run takes from a finished one: its model, vocabulary and tables."""

    path: Path
    spec: ModelSpec
    dim: int
    vocab: Vocab
    weights: dict[str, torch.Tensor]  # the checkpoint's model state: in_embed / out_embed / hs_embed .weight

    def settings(self) -> dict[str, Any]:
        """The model keys of the earlier run, by config name."""
        return {**self.spec.to_dict(), "dim": self.dim}


def load_init_run(spec: str) -> InitRun:
    """Read the final checkpoint of a finished run directory (or checkpoint file), or fail in one line."""
    path = Path(spec).expanduser()
    ckpt = path / "checkpoint.pt" if path.is_dir() else path
    if not path.exists():
        raise W2VError(f"init={spec}: no such run directory; pass the directory of a finished training run")
    if not ckpt.is_file():
        raise W2VError(f"init={spec}: {ckpt} is missing; pass the directory of a finished training run")
    state = load_checkpoint(ckpt)
    if not state.get("progress", {}).get("done"):
        raise W2VError(f"init={spec}: that run has not finished; finish it first with: python train.py resume={path}")
    config = state.get("config", {})
    spec_dict = state.get("model_spec") or {"negatives": int(config.get("negatives", 5))}  # pre-model-key checkpoints: sg-ns
    weights = state["model"]
    vs = state["vocab"]
    vocab = Vocab(list(vs["words"]), vs["counts"].numpy().astype(np.int64))
    return InitRun(path, ModelSpec(**spec_dict), int(weights["in_embed.weight"].shape[1]), vocab, weights)


def init_config(cfg: Any, init: InitRun, given: set[str] | None = None) -> Any:
    """``cfg`` with the earlier run's model keys; a conflicting explicit setting is an error.

    A key counts as set when it is in ``given`` (the command line) or differs from the schema's
    default (which also catches config groups such as ``model=cbow``).
    """
    defaults = TrainConfig()
    given = set(given or ())
    if "model" in given:  # model=sg|cbow sets sg (model=sg equals the default, so only the command line tells)
        given.add("sg")
    cfg = copy.deepcopy(cfg)
    for key, value in init.settings().items():
        current = cfg[key]
        if current != value and (key in given or current != getattr(defaults, key)):
            raise W2VError(
                f"init={init.path} trained {init.spec.name} with dim={init.dim}, but this run sets {key}={current}: "
                f"the model comes from the init run, so drop {key}= (or train from scratch without init)"
            )
        cfg[key] = type(getattr(defaults, key))(value)
    if cfg.max_vocab is not None:
        raise W2VError("max_vocab cannot be combined with init: every word of the init run is kept; use min_count to limit new words")
    if cfg.init_lr is not None:
        cfg.lr = cfg.init_lr  # the run's schedule starts here; the config keeps both keys
    return cfg


def init_model(model: Word2VecModel, vocab: Vocab, init: InitRun) -> int:
    """Copy the earlier run's rows into ``model`` (built over the merged ``vocab``) by word.

    ``model`` already holds gensim's initialisation (input ±1/dim, output zero), which the new
    words keep. Returns the number of rows copied.
    """
    new_index = vocab.index
    old_rows = np.arange(len(init.vocab))
    new_rows = np.array([new_index[w] for w in init.vocab.words], dtype=np.int64)  # merge_vocab keeps every old word
    src, dst = torch.from_numpy(old_rows), torch.from_numpy(new_rows)
    with torch.no_grad():
        model.in_embed.weight[dst] = init.weights["in_embed.weight"][src].to(model.in_embed.weight.dtype)
        if len(model.out_embed.weight):
            model.out_embed.weight[dst] = init.weights["out_embed.weight"][src].to(model.out_embed.weight.dtype)
        old_hs = init.weights.get("hs_embed.weight")
        if len(model.hs_embed.weight) and old_hs is not None:
            n = min(len(old_hs), len(model.hs_embed.weight))  # gensim's update_weights: rows kept by index
            model.hs_embed.weight[:n] = old_hs[:n].to(model.hs_embed.weight.dtype)
    log.info(
        "init from %s: %d words keep their vectors, %d new words start fresh (%s, dim %d)",
        init.path, len(new_rows), len(vocab) - len(new_rows), init.spec.name, init.dim,
    )  # fmt: skip
    return len(new_rows)
