"""A chunk of the corpus made ready for the GPU kernel, with torch ops only (no host synchronisation).

The stream hands the engine a chunk of vocabulary ids with ``-1`` between sentences. Here, on the
engine's device: frequent words are subsampled (word2vec.c's keep probability, drawn from the
chunk's generator), the kept words and the separators are compacted to the front, and every
position gets its sentence bounds and its reduced window. The number of kept positions stays a
one-element device tensor that the kernel reads, so nothing waits for the GPU.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Chunk(NamedTuple):
    """A prepared chunk: int32 tensors of length N (the chunk's size before subsampling)."""

    tokens: torch.Tensor  # kept word ids, -1 at separators and at every position >= n
    starts: torch.Tensor  # first position of each position's sentence
    ends: torch.Tensor  # one past the last position of each position's sentence
    radius: torch.Tensor  # each center's effective window, in 1..window
    n: torch.Tensor  # (1,) number of valid positions (kept words and separators)


def prepare_chunk(ids: torch.Tensor, keep_prob: torch.Tensor, window: int, shrink_windows: bool, generator: torch.Generator) -> Chunk:
    """Subsample, compact and annotate ``ids`` (int32 vocabulary ids, -1 = sentence end) on their device."""
    device, size = ids.device, len(ids)
    separator = ids < 0
    draw = torch.rand(size, generator=generator, device=device)
    keep = separator | (draw < keep_prob.take(ids.clamp(min=0).long()))
    position = torch.cumsum(keep, 0) - 1  # where each kept id lands
    n = (position[-1:] + 1).to(torch.int32) if size else torch.zeros(1, dtype=torch.int32, device=device)
    # Dropped ids are scattered to a spare last slot; everything past n stays a separator.
    packed = torch.full((size + 1,), -1, dtype=torch.int32, device=device)
    packed.scatter_(0, torch.where(keep, position, size), ids.to(torch.int32))
    tokens = packed[:size]
    index = torch.arange(size, device=device)
    is_end = tokens < 0
    starts = torch.cummax(torch.where(is_end, index + 1, 0), 0).values
    ends = torch.cummin(torch.where(is_end, index, size).flip(0), 0).values.flip(0)
    if shrink_windows:
        radius = torch.randint(1, window + 1, (size,), generator=generator, device=device, dtype=torch.int32)
    else:
        radius = torch.full((size,), window, dtype=torch.int32, device=device)
    return Chunk(tokens.contiguous(), starts.to(torch.int32), ends.to(torch.int32), radius, n)
