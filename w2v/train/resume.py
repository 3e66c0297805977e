"""What a resume needs to know beyond the checkpoint: which keys the user gave, and whether the run
is already complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def override_keys(overrides: list[str]) -> list[str]:
    """The config keys of Hydra command-line overrides: ``threads=1`` -> ``threads``,
    ``+eval.x=1`` -> ``eval.x``, ``eval=none`` (a config group) -> ``eval``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return [o.key_or_group for o in OverridesParser.create().parse_overrides(overrides)]


def explicit_keys() -> list[str]:
    """Keys given on the command line of the running Hydra app; none outside Hydra (programmatic use)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return override_keys(list(HydraConfig.get().overrides.task))


def finished_run_message(run_dir: Path, state: dict[str, Any]) -> str:
    """One line for ``resume=`` on a run that already finished: nothing to resume, and what to do instead."""
    epochs = state.get("config", {}).get("epochs", "all")
    return (
        f"the run in {run_dir} is complete ({epochs} epochs; vectors in {run_dir}/vectors.bin): nothing to resume; "
        f"to continue training on new text use: python train.py init={run_dir} corpus=... "
    ).rstrip()
