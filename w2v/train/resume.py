"""What a resume needs to know beyond the checkpoint: which keys the user gave, and whether the run
is already complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from w2v.errors import W2VError


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


def resume_id_files(state: dict[str, Any], run_dir: Path) -> list[Path]:
    """The encoded corpus a checkpoint's position refers to: its id files, checked against their recorded sizes.

    One ``corpus.ids`` for a single-process run (also checkpoints from before the record), torchrun's
    ``corpus.shard<r>.ids`` otherwise; read as one concatenation whatever the world size now.
    """
    if "id_files" not in state and state.get("dist_world_size") is not None:
        raise W2VError(
            f"{run_dir} was trained by torchrun before resumable shards existed (per-rank corpus.rank<r>.ids): "
            "it cannot be resumed; start a new run"
        )
    names, sizes = state.get("id_files", ["corpus.ids"]), state.get("id_sizes")
    paths = [run_dir / name for name in names]
    for i, path in enumerate(paths):
        if not path.is_file():
            raise W2VError(f"{path} is missing, so the stream position cannot be restored; start a new run")
        if sizes is not None and path.stat().st_size // 4 != int(sizes[i]):
            raise W2VError(f"{path} holds {path.stat().st_size // 4} ids, not the {int(sizes[i])} the checkpoint recorded; start a new run")
    return paths
