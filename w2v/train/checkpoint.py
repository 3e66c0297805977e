"""Checkpoints that explain themselves: model, optimizer, vocab, config and stream position.

Saved with ``torch.save`` atomically and loaded with ``weights_only=True``, so a crafted pickle
cannot run code; a truncated or foreign file gives a one-line error instead of a torch traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from w2v.atomic import atomic_open
from w2v.errors import W2VError

FORMAT = "w2v-checkpoint-1"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists and dicts only) atomically."""
    with atomic_open(path, "wb") as f:
        torch.save({"format": FORMAT, **state}, f)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely, or fail with a message that names the file and the problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise W2VError(f"no checkpoint at {path}: pass resume=<run directory> of a run that saved one")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, ... all mean the same to a user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise W2VError(
            f"checkpoint {path} is corrupt or not a w2v checkpoint ({first[:200]}); resume from an earlier copy or start a new run"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise W2VError(f"checkpoint {path} is not a w2v checkpoint (format {FORMAT} expected)")
    return state
