"""Train word vectors: ``python train.py [overrides]``. All the work is in :func:`w2v.train.trainer.train`."""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from w2v.config import register_configs
from w2v.errors import W2VError

log = logging.getLogger("w2v")
register_configs()


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Run one training job and return the metric a sweeper should maximise."""
    from w2v.train.trainer import train

    try:
        metrics = train(cfg, HydraConfig.get().runtime.output_dir)
    except W2VError as exc:
        log.error("%s", exc)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # One job of a sweep (a diverging lr): an exception is a failed job to Hydra, so the other
            # jobs run and Optuna records a failed trial; sys.exit would end the sweep there and then.
            raise W2VError(str(exc)) from None
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    for objective in ("hr@10", "analogy"):  # song runs: next-song hit rate; word runs: analogies
        if objective in metrics:
            return float(metrics[objective])
    return -float(metrics["final_loss"]) if metrics.get("final_loss") is not None else None


if __name__ == "__main__":
    main()
