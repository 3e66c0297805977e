"""Checkpoints that explain themselves: model, optimizer, vocab, config and stream position.

Saved with ``torch.save`` atomically and loaded with ``weights_only=True``, so a crafted pickle
cannot run code; a truncated or foreign file gives a one-line error instead of a torch traceback, and
so does a missing key or one of another type (:mod:`w2v.train.checkpoint_schema`).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch

from w2v.atomic import atomic_open
from w2v.errors import W2VError
from w2v.train.checkpoint_schema import validate_state

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
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols in several lines
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, ... all mean the same to a user
        raise W2VError(
            f"checkpoint {path} is corrupt or not a w2v checkpoint ({_reason(exc)}); resume from an earlier copy or start a new run"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise W2VError(f"checkpoint {path} is not a w2v checkpoint (format {FORMAT} expected)")
    validate_state(state, path)  # every key the trainer reads, with its type and shape: one line, not a KeyError later
    return state


def _reason(exc: Exception) -> str:
    """A short reason for a failed load, without PyTorch's advice to retry with ``weights_only=False``.

    That advice is the one thing a user must not follow with a file they did not write: it would run
    the pickle's code. A refused pickle is reported by what the safe unpickler rejected instead.
    """
    text = " ".join(str(exc).split())
    if "weights_only" in text or "Weights only load failed" in text:
        detail = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\s*Check the documentation|$)", text)
        # Only the first sentence: the next ones suggest allow-listing globals, another way to unpickle it.
        what = re.split(r"(?<=\.)\s", detail.group(1).strip())[0] if detail else ""
        return "it holds Python objects that a w2v checkpoint never contains, which w2v refuses to unpickle" + (
            f": {what[:120]}" if what else ""
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first[:200]
