"""Support for hyperparameter searches (configs/hparams_search/): the Optuna study's storage.

The Optuna sweeper opens its ``storage`` before any job runs, and SQLite cannot create a missing
folder, so ``sqlite:///outputs/hparams_search/<study>.db`` would fail on a first search.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(storage: Any) -> Path | None:
    """The database file of a ``sqlite:///PATH`` storage URL; None for any other storage (or none)."""
    if not isinstance(storage, str) or not storage.startswith(SQLITE_PREFIX):
        return None
    path = storage[len(SQLITE_PREFIX) :].split("?", 1)[0]  # drop ?timeout=... query options
    return Path(path) if path and path != ":memory:" else None


class StudyStorage(Callback):
    """Hydra callback: create the folder of the sweeper's SQLite storage before the sweep starts."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        path = sqlite_path(config.hydra.sweeper.get("storage"))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            log.info("Optuna study %s stored in %s", config.hydra.sweeper.get("study_name"), path)
