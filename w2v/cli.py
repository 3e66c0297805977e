"""The four commands, one style: Hydra apps over the YAML in ``configs/`` with typed schemas.

Each command is a thin ``@hydra.main`` around a function that does the work and takes the composed
config (``w2v.train.trainer.train``, ``w2v.evaluation.run.evaluate``, ``w2v.similar.command``,
``w2v.songs.recommend.command``), and an entry function that returns the exit status:

================  ==================  ===================  ============================
command           script              console script       ``python -m w2v``
================  ==================  ===================  ============================
train             ``train.py``        ``w2v-train``        ``python -m w2v train``
evaluate          ``evaluate.py``     ``w2v-evaluate``     ``python -m w2v evaluate``
similar           ``similar.py``      ``w2v-similar``      ``python -m w2v similar``
recommend         ``recommend.py``    ``w2v-recommend``    ``python -m w2v recommend``
================  ==================  ===================  ============================

Hydra resolves a relative ``config_path`` against the package (``pkg://``), where ``configs/`` is not,
so the path given is the absolute one of the checkout's ``configs/`` beside the package (an editable
install, ``pip install -e .``, keeps it there).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from w2v import similar
from w2v.config import register_configs
from w2v.errors import W2VError
from w2v.evaluation.config import register_evaluate_config
from w2v.query_args import QueryArgs
from w2v.songs import recommend

log = logging.getLogger("w2v")

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def _train(cfg: DictConfig) -> float | None:
    """Run one training job and return the metric a sweeper should maximise."""
    from w2v.train.trainer import train  # imported here: torch and the engines take seconds, --help none

    try:
        metrics = train(cfg, HydraConfig.get().runtime.output_dir)
        return objective_value(metrics, list(cfg.eval.objective or []))
    except W2VError as exc:
        log.error("%s", exc)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # One job of a sweep (a diverging lr): an exception is a failed job to Hydra, so the other
            # jobs run and Optuna records a failed trial; sys.exit would end the sweep there and then.
            raise W2VError(str(exc)) from None
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def objective_value(metrics: dict, names: list[str]) -> float | None:
    """What a sweeper maximises: the mean of the metrics ``names`` (``eval.objective``), or by default the
    next-song hit rate of a song run, a word run's analogy accuracy, or minus the final loss (eval=none)."""
    if names:
        missing = [n for n in names if not isinstance(metrics.get(n), (int, float))]
        if missing:
            have = ", ".join(sorted(k for k, v in metrics.items() if isinstance(v, float)))
            raise W2VError(f"eval.objective names {', '.join(missing)}, which this run did not measure; measured: {have}")
        return sum(float(metrics[n]) for n in names) / len(names)
    for objective in ("hr@10", "analogy"):  # song runs: next-song hit rate; word runs: analogies
        if objective in metrics:
            return float(metrics[objective])
    return -float(metrics["final_loss"]) if metrics.get("final_loss") is not None else None


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="evaluate")
def _evaluate(cfg: DictConfig) -> None:
    """Run the evaluation and print its summary table."""
    from w2v.evaluation.run import evaluate  # imported here: --help and config errors need none of it

    try:
        table = evaluate(cfg, HydraConfig.get().runtime.output_dir)
    except W2VError as exc:
        log.error("%s", exc)
        sys.exit(2)
    print(table)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="similar")
def _similar(cfg: DictConfig) -> None:
    """Print the query's answer, or one error line (exit 2)."""
    sys.exit(similar.command(cfg))


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="recommend")
def _recommend(cfg: DictConfig) -> None:
    """Print the recommendations, or one error line (exit 2)."""
    sys.exit(recommend.command(cfg))


def train_main(argv: Sequence[str] | None = None) -> int:
    """``w2v-train`` / ``python train.py``: train word vectors (``argv``: overrides; default the command line)."""
    register_configs()
    return _invoke(_train, argv)


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``w2v-evaluate`` / ``python evaluate.py``: evaluate vectors or summarise a sweep."""
    register_evaluate_config()
    return _invoke(_evaluate, argv)


def similar_main(argv: Sequence[str] | None = None) -> int:
    """``w2v-similar`` / ``python similar.py``: a word's nearest words, or an analogy."""
    similar.register_similar_config()
    return _invoke(_similar, argv, similar.ARGS)


def recommend_main(argv: Sequence[str] | None = None) -> int:
    """``w2v-recommend`` / ``python recommend.py``: songs nearest to songs of a playlists run."""
    recommend.register_recommend_config()
    return _invoke(_recommend, argv, recommend.ARGS)


COMMANDS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "train": train_main,
    "evaluate": evaluate_main,
    "similar": similar_main,
    "recommend": recommend_main,
}


def _invoke(app: Callable[[], Any], argv: Sequence[str] | None, query: QueryArgs | None = None) -> int:
    """Run a Hydra app on ``argv`` (default: the command line) and return its exit status.

    A query command's arguments are made into Hydra overrides first (:mod:`w2v.query_args`). Called
    in-process (tests, notebooks), the command leaves the caller's ``sys.argv`` and root logger as it
    found them; Hydra configures logging for the job.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if not CONFIG_DIR.is_dir():
        print(f"error: w2v's configs/ folder is not at {CONFIG_DIR}: install w2v from its checkout with pip install -e .", file=sys.stderr)
        return 2
    if query is not None:
        try:
            args = query.overrides(args)
        except W2VError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    saved_argv, root = sys.argv, logging.getLogger()
    saved_logging = (root.level, root.handlers[:])
    sys.argv = [saved_argv[0] if saved_argv else "w2v", *args]
    try:
        app()
    except SystemExit as exc:
        return _status(exc.code)
    finally:
        sys.argv = saved_argv
        root.setLevel(saved_logging[0])
        root.handlers[:] = saved_logging[1]
    return 0


def _status(code: Any) -> int:
    """``sys.exit``'s argument as an exit status (a message is printed, as Python does, and is status 1)."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1
