"""What the stream hands an engine: a batch of examples, a token chunk, or a span chunk.

Each item carries its words (the learning rate schedule's unit) and its place in the epoch, so the
trainer can count progress and say where a resume continues (:meth:`resume_at`) without knowing
which kind it holds. Engines declare which kind they take (:class:`w2v.engines.base.Engine`):

- :class:`ExampleBatch`: examples made by the stream (numba, torch);
- :class:`TokenChunk`: whole blocks as vocabulary ids; the engine makes its examples (triton);
- :class:`SpanChunk`: whole blocks as a view of the id file; the engine also maps and subsamples (hogwild).

They are dataclasses, not dicts: the DataLoader passes them through untouched (a dict's numpy
arrays would be copied into tensors), and ``pin_memory`` pins what a CUDA copy reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ExampleBatch:
    """Examples of one block with their negatives: input bags in CSR form and targets."""

    inputs: torch.Tensor  # (N_in,) int64 input rows
    offsets: torch.Tensor | None  # (B+1,) int64 bag bounds, or None when every bag is one input (skip-gram)
    targets: torch.Tensor  # (B,) int64
    negatives: torch.Tensor  # (B, K) int64, K = 0 without negative sampling
    words: int  # corpus words this batch accounts for (the LR schedule's unit)
    epoch: int
    block: int
    batch: int  # index of this batch in its block
    last: bool  # the block's last batch
    worker: int = 0  # the DataLoader worker that made it

    def __len__(self) -> int:
        return len(self.targets)

    def resume_at(self) -> tuple[int, int]:
        """The (block, batch) this batch's worker continues at once it is trained."""
        return (self.block + 1, 0) if self.last else (self.block, self.batch + 1)

    def to(self, device: torch.device) -> ExampleBatch:
        """The batch with its tensors on ``device`` (non-blocking from pinned memory)."""
        move = {f: getattr(self, f) for f in ("inputs", "offsets", "targets", "negatives")}
        return dataclasses.replace(self, **{k: v.to(device, non_blocking=True) if v is not None else None for k, v in move.items()})

    def pin_memory(self) -> ExampleBatch:
        """The DataLoader's ``pin_memory=True`` calls this (workers > 0 on CUDA)."""
        pin = {f: getattr(self, f) for f in ("inputs", "offsets", "targets", "negatives")}
        return dataclasses.replace(self, **{k: v.pin_memory() if v is not None else None for k, v in pin.items()})


@dataclass
class TokenChunk:
    """Whole blocks of one worker as vocabulary ids, ``-1`` between sentences and after each block."""

    tokens: torch.Tensor  # (N,) int32
    words: int  # in-vocabulary words (the non-negative ids)
    epoch: int
    first_block: int  # the engine seeds the chunk's draws with it
    block: int  # the last block: a resume continues after it
    worker: int = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def resume_at(self) -> tuple[int, int]:
        """The (block, batch) the worker continues at once the chunk is trained: the next block."""
        return (self.block + 1, 0)

    def to(self, device: torch.device) -> TokenChunk:
        """The chunk with its ids on ``device``."""
        return dataclasses.replace(self, tokens=self.tokens.to(device, non_blocking=True))

    def pin_memory(self) -> TokenChunk:
        """The DataLoader's ``pin_memory=True`` calls this (workers > 0 on CUDA)."""
        return dataclasses.replace(self, tokens=self.tokens.pin_memory())


@dataclass
class SpanChunk:
    """Whole blocks of one worker as a zero-copy view of the id file, for an engine that reads them itself."""

    ids: np.ndarray  # int32 view of the id file from the first block's start to the last block's end
    blocks: np.ndarray  # (B,) int64 block indices (held-out blocks left out)
    lo: np.ndarray  # (B,) int64 each block's first position in ids
    hi: np.ndarray  # (B,) int64 one past its last
    block_words: np.ndarray  # (B,) int64 in-vocabulary words of each block
    epoch: int
    worker: int = 0

    @property
    def words(self) -> int:
        """In-vocabulary words of all the chunk's blocks."""
        return int(self.block_words.sum())

    @property
    def first_block(self) -> int:
        return int(self.blocks[0])

    @property
    def block(self) -> int:
        """The last block: a resume continues after it."""
        return int(self.blocks[-1])

    def __len__(self) -> int:
        return len(self.blocks)

    def resume_at(self) -> tuple[int, int]:
        """The (block, batch) the worker continues at once the chunk is trained: the next block."""
        return (self.block + 1, 0)

    def to(self, device: torch.device) -> SpanChunk:
        """The chunk itself: the engine's threads read the id file on the host."""
        return self

    def pin_memory(self) -> SpanChunk:
        """Nothing to pin: the arrays stay views of the id file."""
        return self


StreamItem = ExampleBatch | TokenChunk | SpanChunk
"""One step's worth of training data, whichever kind the engine takes."""
