"""Typed schema of ``configs/evaluate.yaml`` (the ``evaluate.py`` command).

The ``eval`` subtree is the same EvalConfig that training uses, so ``eval.restrict_vocab=...`` means
the same thing in both commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

from w2v.config import EvalConfig


@dataclass
class EvaluateConfig:
    eval: EvalConfig = field(default_factory=EvalConfig)
    vectors: Any = None  # a run directory or vectors file, or a list of them (compared side by side)
    names: Optional[list[str]] = None  # column names for `vectors`; None = run directory or file names
    limit: Optional[int] = None  # load only the first N words of each vectors file
    sweep: Optional[str] = None  # a Hydra multirun directory to summarise instead
    sort_by: Optional[str] = None  # sweep table order; None = analogy if present, else final_loss
    metrics: Optional[list[str]] = None  # sweep table metric columns; None = the usual ones present
    out: Optional[str] = None  # where reports go; None = Hydra's run directory (a sweep: the sweep directory)
    # gensim .kv/.model files are pickles, which run code when loaded: load them only when told to.
    trust_pickle: bool = False


def register_evaluate_config() -> None:
    """Register the schema with Hydra's ConfigStore as ``evaluate_schema``."""
    ConfigStore.instance().store(name="evaluate_schema", node=EvaluateConfig)
