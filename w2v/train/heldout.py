"""Held-out loss: the blocks the stream keeps out of training, scored by the frozen model.

The training loss w2v reports is *progressive* (each example is scored just before its own update),
so it mixes model quality with the learning rate and the example order. The held-out loss scores
fixed examples with fixed negatives under ``torch.no_grad`` with the model's reference loss
(:meth:`w2v.models.word2vec.Word2VecModel.forward`): it changes only when the model does.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import torch

from w2v.data.stream import HELDOUT_KEY, Word2VecStream
from w2v.models.word2vec import Word2VecModel

# Examples per forward pass: bounds the (B, T, D) score tensor (T = K+1, or a Huffman path's length).
SCORE_BATCH = 2048
# The held-out examples kept and scored, taken evenly from every held-out block: the mean loss of
# 65k examples has a standard error near 0.01, and scoring them (the reference loss in torch, about
# 200k examples/s on one core) stays a small share of training however large the held-out part is.
MAX_EXAMPLES = 65536
# Scoring at a log step is skipped while it would take more than this share of the training time.
TIME_SHARE = 0.02


class HeldOutLoss:
    """Fixed examples of the held-out blocks and their mean loss under the current model."""

    def __init__(self, stream: Word2VecStream, model: Word2VecModel, device: torch.device):
        self.model = model
        # The held-out draws (subsampling, windows, negatives) are seeded once, with their own key in
        # place of the epoch, and cut into small batches; the training stream is not touched.
        blocks = stream.heldout_blocks
        quota = -(-MAX_EXAMPLES // max(1, len(blocks)))  # examples per block (ceil)
        scorer = copy.copy(stream)
        scorer.cfg = dataclasses.replace(stream.cfg, batch_size=min(SCORE_BATCH, quota))
        self.batches: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]] = []
        self.words = 0
        for block in blocks:
            self.words += stream.block_words(block)
            taken = 0
            for batch in scorer.iter_block(block, epoch=HELDOUT_KEY):
                if taken >= quota:
                    break
                if len(batch):
                    tensors = (batch.inputs, batch.offsets, batch.targets, batch.negatives)
                    self.batches.append(tuple(t.to(device) if t is not None else None for t in tensors))  # type: ignore[arg-type]
                    taken += len(batch)
        self.examples = sum(len(b[2]) for b in self.batches)
        self.seconds, self.calls = 0.0, 0  # time spent scoring, for the overhead budget
        self.estimate = self._probe()  # seconds per scoring pass until one has been measured

    @torch.no_grad()
    def _probe(self) -> float:
        """Time one batch and extrapolate to all, so even the first scoring at a log step keeps to the budget."""
        if not self.batches:
            return 0.0
        t0 = time.perf_counter()
        self.model(*self.batches[0]).item()
        took = time.perf_counter() - t0
        self.seconds += took
        return took * len(self.batches)

    def __bool__(self) -> bool:
        return self.examples > 0

    @torch.no_grad()
    def loss(self) -> float:
        """Mean loss per example (the training loss's unit) of the held-out examples; one device sync."""
        t0 = time.perf_counter()
        total = torch.zeros((), dtype=torch.float64, device=self.batches[0][2].device)
        for inputs, offsets, targets, negatives in self.batches:
            total += self.model(inputs, offsets, targets, negatives)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return float(total.item()) / self.examples

    def due(self, train_seconds: float) -> bool:
        """Whether scoring now keeps the time spent scoring under ``TIME_SHARE`` of ``train_seconds``."""
        per_call = self.seconds / self.calls if self.calls else self.estimate
        return self.seconds + per_call <= TIME_SHARE * train_seconds
