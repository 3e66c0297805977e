"""Evaluate word vectors or summarise a sweep: ``python evaluate.py vectors=PATH`` or ``sweep=DIR``.

All the work is in :func:`w2v.evaluation.run.evaluate`; reports go to Hydra's run directory
(``outputs/evaluate/<date>/<time>``) unless ``out=DIR`` is given.
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from w2v.errors import W2VError
from w2v.evaluation.config import register_evaluate_config

log = logging.getLogger("w2v")
register_evaluate_config()


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Run the evaluation and print its summary table."""
    from w2v.evaluation.run import evaluate

    try:
        table = evaluate(cfg, HydraConfig.get().runtime.output_dir)
    except W2VError as exc:
        log.error("%s", exc)
        sys.exit(2)
    print(table)


if __name__ == "__main__":
    main()
