"""What a resume needs to know beyond the checkpoint: which keys the user gave and which of them
replace the checkpoint's (:func:`resume_config`), whether the run is already complete, and which id
files it reads (and at the end deletes): only the ones a run writes into its own directory, whatever
names the checkpoint holds."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from w2v.config import train_schema, validate
from w2v.data.vocab import SENTENCE_END
from w2v.errors import W2VError
from w2v.paths import file_in
from w2v.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)
_ABSENT = object()

# Keys a resumed run may change when the command line gives them; every other key, and these when
# not given, keep the checkpoint's values.
RESUME_MAY_CHANGE = (
    "resume",
    "device",
    "threads",
    "grid",
    "log_every",
    "progress_every",
    "eval",
    "checkpoint_every_minutes",
    "checkpoint_every_words",
    "keep_ids_cache",
    "dist",
    "export_formats",
)


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


def load_resume(cfg: DictConfig, explicit: Iterable[str]) -> tuple[DictConfig, dict[str, Any], Path]:
    """``resume=``: the config the run continues with (:func:`resume_config`), the checkpoint, and its run directory.

    A finished run, or a checkpoint whose config no run can use, is a one-line error.
    """
    state = load_checkpoint(Path(cfg.resume))
    run_dir = Path(cfg.resume) if Path(cfg.resume).is_dir() else Path(cfg.resume).parent
    if state["progress"].get("done"):
        raise W2VError(finished_run_message(run_dir, state))
    resumed = resume_config(cfg, state, explicit)
    check_resumed_config(resumed, run_dir)
    return resumed, state, run_dir


def resume_config(cfg: DictConfig, state: dict[str, Any], explicit: Iterable[str] = ()) -> DictConfig:
    """The checkpoint's config, with the :data:`RESUME_MAY_CHANGE` keys of ``explicit`` taken from ``cfg``."""
    saved = OmegaConf.create(state["config"])
    for key in ("sg", "cbow_mean", "hs"):  # checkpoints from before the model keys trained skip-gram with NS
        if key not in saved:
            OmegaConf.update(saved, key, key != "hs", merge=False)
    if "heldout" not in saved:  # checkpoints from before held-out blocks trained on every block
        OmegaConf.update(saved, "heldout", 0.0, merge=False)
    if "dist" in saved and "merge" not in saved.dist:  # checkpoints from before dist.merge averaged (at their lr_scale)
        OmegaConf.update(saved, "dist.merge", "average", merge=False)
    explicit = {"resume", *explicit}
    for key in RESUME_MAY_CHANGE:
        if key in cfg and key not in saved:  # a key newer than the checkpoint: this version's value
            OmegaConf.update(saved, key, cfg[key], merge=False)
    # Typed like a command line's config (load_checkpoint checked that it fits); other keys newer than the
    # checkpoint take this version's defaults.
    saved = OmegaConf.merge(train_schema(saved), saved)  # corpus typed by its kind's own schema (playlists)
    for key in sorted(explicit):  # a group (eval=none) replaces its subtree, eval.x=... one value
        new = OmegaConf.select(cfg, key, default=_ABSENT)
        if new is _ABSENT:  # hydra.* and other keys outside the run config
            continue
        if key.split(".")[0] in RESUME_MAY_CHANGE:
            OmegaConf.update(saved, key, new, merge=False)
        elif OmegaConf.select(saved, key, default=None) != new:
            log.warning("resume: keeping the checkpoint's %s=%s (ignoring %s)", key, OmegaConf.select(saved, key, default=None), new)
    return saved


def check_resumed_config(cfg: DictConfig, run_dir: Path) -> None:
    """The checkpoint's config through the value checks a command line's goes through, so a damaged one
    (``window: 0``, an unregistered ``corpus.evaluator``) stops now, not hours later. The files it names
    are not read: a resume reads no corpus and no tokenizer."""
    checked = copy.deepcopy(cfg)
    checked.init, checked.init_lr = None, None  # a run started with init= is resumed with resume=, which excludes it
    try:
        validate(checked, files=False)
    except W2VError as exc:
        raise W2VError(
            f"the checkpoint in {run_dir} holds a config no run can use ({exc}); it is damaged or was not written by this w2v: "
            "start a new run"
        ) from None


def finished_run_message(run_dir: Path, state: dict[str, Any]) -> str:
    """One line for ``resume=`` on a run that already finished: nothing to resume, and what to do instead."""
    epochs = state.get("config", {}).get("epochs", "all")
    return (
        f"the run in {run_dir} is complete ({epochs} epochs; vectors in {run_dir}/vectors.bin): nothing to resume; "
        f"to continue training on new text use: python train.py init={run_dir} corpus=... "
    ).rstrip()


# The id files a run writes into its own directory: one process's corpus.ids, torchrun's per-rank shards.
ID_FILE = re.compile(r"corpus(\.shard[0-9]+)?\.ids")
_ID_CHUNK = 1 << 22  # ids per read when checking a file's ids: 16 MB of int32


def owned_id_file(run_dir: Path, path: Path) -> bool:
    """True for an id file this run may delete: named as the trainer names them, directly in ``run_dir``,
    and not a link (deleting a link removes only the link, but a run never makes one)."""
    return ID_FILE.fullmatch(path.name) is not None and path.parent.resolve() == run_dir.resolve() and not path.is_symlink()


def remove_id_files(run_dir: Path, paths: list[Path]) -> None:
    """Delete the encoded corpus at the end of a run (``keep_ids_cache=false``): only files the run owns."""
    for path in paths:
        if owned_id_file(run_dir, path):
            path.unlink(missing_ok=True)


def resume_id_files(state: dict[str, Any], run_dir: Path, n_remap: int | None = None) -> list[Path]:
    """The encoded corpus a checkpoint's position refers to: its id files, checked against their recorded sizes.

    One ``corpus.ids`` for a single-process run (also checkpoints from before the record), torchrun's
    ``corpus.shard<r>.ids`` otherwise; read as one concatenation whatever the world size now. The names
    come from the checkpoint, so each must be one the trainer writes, in ``run_dir`` (the end of the run
    deletes them). With ``n_remap`` (the id mapping's length) every id is checked to be one it maps.
    """
    if "id_files" not in state and state.get("dist_world_size") is not None:
        raise W2VError(
            f"{run_dir} was trained by torchrun before resumable shards existed (per-rank corpus.rank<r>.ids): "
            "it cannot be resumed; start a new run"
        )
    names, sizes = state.get("id_files", ["corpus.ids"]), state.get("id_sizes")
    paths = [_id_path(run_dir, name) for name in names]
    for i, path in enumerate(paths):
        if not path.is_file():
            raise W2VError(f"{path} is missing, so the stream position cannot be restored; start a new run")
        if sizes is not None and path.stat().st_size // 4 != int(sizes[i]):
            raise W2VError(f"{path} holds {path.stat().st_size // 4} ids, not the {int(sizes[i])} the checkpoint recorded; start a new run")
        if n_remap is not None:
            _check_id_range(path, n_remap)
    return paths


def _id_path(run_dir: Path, name: object) -> Path:
    """``run_dir / name`` for an id file name the trainer writes, or one line saying the checkpoint names another."""
    what = f"the checkpoint in {run_dir} (id_files)"
    fix = "a run reads only its own corpus.ids or corpus.shard<r>.ids: start a new run"
    path = file_in(run_dir, name, what, fix)
    if ID_FILE.fullmatch(path.name) is None:
        raise W2VError(f"{what} names {name!r}, which is not an id file a run writes; {fix}")
    return path


def _check_id_range(path: Path, n_remap: int) -> None:
    """Every id of ``path`` is a sentence end or one the checkpoint's id mapping covers (a damaged file fails here,
    in one line, rather than as an index error in the middle of an epoch)."""
    n_ids = path.stat().st_size // 4
    ids = np.memmap(path, dtype=np.int32, mode="r", shape=(n_ids,)) if n_ids else np.zeros(0, dtype=np.int32)
    for lo in range(0, len(ids), _ID_CHUNK):
        chunk = ids[lo : lo + _ID_CHUNK]
        if chunk.min() < SENTENCE_END or chunk.max() >= n_remap:
            bad = int(chunk.min()) if chunk.min() < SENTENCE_END else int(chunk.max())
            raise W2VError(
                f"{path} holds id {bad}, outside the checkpoint's {n_remap} mapped ids: it is damaged or belongs to another run; "
                "start a new run"
            )
