"""Compiled (numba) helpers of the CPU stream: window pairs in word2vec's order, and alias draws.

Both replace several whole-tensor passes with one loop over the block. Without numba the stream
falls back to the tensor versions in :mod:`w2v.data.stream` and :mod:`w2v.data.sampler`.
"""

from __future__ import annotations

import numpy as np
import torch

from w2v.kernel_cache import drop_stale_kernels

drop_stale_kernels()  # before any kernel loads from numba's cache: see w2v.kernel_cache

try:
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency, but keep torch-only installs working
    HAVE_NUMBA = False


def available() -> bool:
    """True when the compiled helpers can run (numba importable)."""
    return HAVE_NUMBA


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _window_pairs(tokens, sentence, radius, out_centers, out_contexts, out_offsets):  # pragma: no cover - compiled
        n, p, e = tokens.shape[0], 0, 0
        out_offsets[0] = 0
        for i in range(n):
            lo, hi = max(0, i - radius[i]), min(n - 1, i + radius[i])
            first = p
            for j in range(lo, hi + 1):
                if j != i and sentence[j] == sentence[i]:
                    out_centers[p] = tokens[i]
                    out_contexts[p] = tokens[j]
                    p += 1
            if p > first:  # one window (CBOW example) per center that has a context
                e += 1
                out_offsets[e] = p
        return p, e

    @njit(cache=True, nogil=True)
    def _alias_draw(prob, alias, seed, out):  # pragma: no cover - compiled
        # splitmix64: a fast, well-mixed 64-bit generator; one draw gives the bucket (high 32 bits,
        # multiply-shift) and the coin (low 24 bits), as two uniform numbers would.
        x = np.uint64(seed)
        n_words = np.uint64(prob.shape[0])
        for i in range(out.shape[0]):
            x += np.uint64(0x9E3779B97F4A7C15)
            z = x
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            k = ((z >> np.uint64(32)) * n_words) >> np.uint64(32)
            coin = np.float32(z & np.uint64(0xFFFFFF)) * np.float32(1.0 / 16777216.0)
            out[i] = k if coin < prob[k] else alias[k]


def window_pairs_cpu(tokens: torch.Tensor, sentence: torch.Tensor, radius: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Window pairs of CPU tensors in word2vec's center-by-center order, in one compiled pass.

    Returns ``(centers, contexts, offsets)``: the same pairs and order as
    ``w2v.data.stream.window_pairs``, and CSR offsets (E+1,) delimiting each center's run of pairs
    (one CBOW example per center with at least one context).
    """
    bound = int(2 * radius.sum()) if len(radius) else 0
    centers = torch.empty(bound, dtype=torch.int64)
    contexts = torch.empty(bound, dtype=torch.int64)
    offsets = torch.empty(len(tokens) + 1, dtype=torch.int64)
    n, e = _window_pairs(tokens.numpy(), sentence.numpy(), radius.numpy(), centers.numpy(), contexts.numpy(), offsets.numpy())
    return centers[:n], contexts[:n], offsets[: e + 1]


def alias_draw_cpu(prob: torch.Tensor, alias: torch.Tensor, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Draw ``shape`` indices from an alias table in one compiled pass, reproducibly from ``seed``."""
    out = torch.empty(shape, dtype=torch.int64)
    _alias_draw(prob.numpy(), alias.numpy(), seed, out.view(-1).numpy())
    return out
