"""Where training stands, and the one place its counts move.

Progress is in words (corpus tokens in the vocabulary, before subsampling), like word2vec.c and
gensim: the learning rate decays linearly with words processed over all epochs (:func:`lr_at`).

- :class:`Tally` collects what the steps since the last round end trained: words on the host, and
  the engines' (summed loss, examples) on the device, so no step waits for the device.
- :class:`Progress` is what a checkpoint keeps: it takes a round's totals (:meth:`Progress.add`)
  and its stream position (:meth:`Progress.advance`), and closes epochs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from w2v.errors import W2VError


def lr_at(cfg: Any, words_done: int, total_words: int) -> float:
    """word2vec's schedule: linear from ``lr`` to ``min_lr`` over all words of all epochs."""
    progress = min(1.0, words_done / max(1, total_words))
    return cfg.lr - (cfg.lr - cfg.min_lr) * progress


@dataclass
class Progress:
    """Where training stands: enough to resume exactly (its fields are the checkpoint's ``progress``)."""

    epoch: int = 0
    start: dict[int, tuple[int, int]] = field(default_factory=dict)  # worker -> next (block, batch)
    words_done: int = 0
    epoch_loss: float = 0.0  # summed loss of this epoch so far
    epoch_pairs: int = 0  # examples: skip-gram pairs or CBOW windows (name kept for older checkpoints)
    epoch_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)  # held-out loss at the end of each epoch
    pairs_total: int = 0
    train_seconds: float = 0.0
    done: bool = False

    def state(self) -> dict[str, Any]:
        """The checkpoint's ``progress`` entry (string worker keys, position pairs as lists)."""
        d = dict(self.__dict__)
        d["start"] = {str(k): list(v) for k, v in self.start.items()}
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Progress:
        """Read :meth:`state` back."""
        d = dict(d)
        d["start"] = {int(k): (int(v[0]), int(v[1])) for k, v in d["start"].items()}
        return cls(**d)

    def add(self, words: int = 0, loss: float = 0.0, examples: int = 0) -> None:
        """Count trained words, and the summed loss and number of the examples they made."""
        self.words_done += words
        self.epoch_loss += loss
        self.epoch_pairs += examples
        self.pairs_total += examples

    def advance(self, start: dict[int, tuple[int, int]]) -> None:
        """Move the stream position of the workers in ``start`` (what a resume continues at)."""
        self.start.update(start)

    def mean_loss(self) -> float:
        """The epoch's loss so far, per example."""
        return self.epoch_loss / max(1, self.epoch_pairs)

    def close_epoch(self) -> float:
        """Record the epoch's mean loss and return it."""
        avg = self.mean_loss()
        self.epoch_losses.append(avg)
        return avg

    def next_epoch(self) -> None:
        """Start the next epoch at its first block."""
        self.epoch += 1
        self.start, self.epoch_loss, self.epoch_pairs = {}, 0.0, 0

    def snapshot(self, seconds: float = 0.0) -> Progress:
        """A copy for a checkpoint, with ``seconds`` of training not yet counted added."""
        return dataclasses.replace(self, train_seconds=self.train_seconds + seconds)


class Tally:
    """What the steps since the last round end trained: words on the host, (summed loss, examples) on the device."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)  # (loss, examples), summed without a sync per step
        self.words = 0

    def add(self, words: int, result: torch.Tensor | None = None) -> None:
        """Count an item's words and, when it was trained, the engine's (summed loss, examples) for it."""
        self.words += words
        if result is not None:
            self.sums += result

    def take_words(self) -> int:
        """The words counted since the last call."""
        words, self.words = self.words, 0
        return words

    def take_sums(self) -> tuple[float, int]:
        """The device's (summed loss, examples) since the last call: one device sync."""
        loss, examples = self.sums.tolist()
        self.sums.zero_()
        return loss, int(examples)


class CheckpointClock:
    """When a periodic checkpoint is due: every ``checkpoint_every_words`` words or ``checkpoint_every_minutes``."""

    def __init__(self, cfg: Any, words_done: int):
        self.cfg = cfg
        self.reset(words_done)

    def reset(self, words_done: int) -> None:
        """A checkpoint was written now, at ``words_done``."""
        self.time, self.words = time.monotonic(), words_done

    def due(self, words_done: int) -> bool:
        """Whether enough words or minutes have passed since the last checkpoint."""
        if self.cfg.checkpoint_every_words and words_done - self.words >= self.cfg.checkpoint_every_words:
            return True
        return bool(self.cfg.checkpoint_every_minutes) and time.monotonic() - self.time >= 60 * self.cfg.checkpoint_every_minutes


def check_finite(loss_sum: float, run_dir: Path) -> None:
    """One line when the loss diverged (a checkpoint is then not overwritten)."""
    if not math.isfinite(loss_sum):
        raise W2VError(f"the loss became {loss_sum} (training diverged): lower lr; the last good checkpoint in {run_dir} is kept")


def position(start: dict[int, tuple[int, int]]) -> str:
    """A stream position for the log: ``block 12, batch 3`` (one worker or torchrun) or per worker."""
    if not start:
        return "the epoch's start"
    return ", ".join(f"{'' if len(start) == 1 else f'worker {w}: '}block {b}, batch {k}" for w, (b, k) in sorted(start.items()))
