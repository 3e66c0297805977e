"""A run of ``train.py`` interrupted after its first checkpoint and resumed, as a user would (tests/test_resume.py, test_subwords.py).

The settings make a deterministic run with many stop points: one kernel thread, no workers, small
blocks and batches, a periodic checkpoint every 2,000 words and 2 of the 8 blocks held out (val/loss
on); about 2-4 s of training per run. A resumed run must equal the uninterrupted one bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from helpers import TRAIN_PY

RUN_ARGS = [
    "eval=none",
    "corpus=text",
    "min_count=2",
    "dim=16",
    "epochs=4",
    "threads=1",
    "workers=0",
    "block_tokens=2000",
    "batch_size=256",
    "checkpoint_every_minutes=0",
    "checkpoint_every_words=2000",
    "log_every=1",
    "seed=7",
    "heldout=0.25",
]


def checkpoint_vectors(run_dir: Path) -> np.ndarray:
    """The input vectors of the run's checkpoint."""
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return state["model"]["in_embed.weight"].numpy()


def start_run(run_dir: Path, corpus: Path, extra: Sequence[str] = ()) -> subprocess.Popen:
    """``python train.py`` with :data:`RUN_ARGS` on ``corpus`` into ``run_dir``, started in the background."""
    args = [sys.executable, str(TRAIN_PY), *RUN_ARGS, f"corpus.path={corpus}", f"hydra.run.dir={run_dir}", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(proc: subprocess.Popen, run_dir: Path, timeout: float = 60) -> None:
    """Return once ``run_dir`` holds a checkpoint; fail if the run ends first or none appears in ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (run_dir / "checkpoint.pt").exists():
        assert proc.poll() is None, f"run ended before its first checkpoint: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


def resume_run(run_dir: Path, extra: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """``python train.py resume=run_dir *extra``, run to its end."""
    args = [sys.executable, str(TRAIN_PY), f"resume={run_dir}", *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)
