"""Negative sampling from the noise distribution with Walker's alias method: O(1) per draw, exact."""

from __future__ import annotations

import numpy as np
import torch

from w2v.data import compiled


def build_alias_table(weights: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(prob, alias)`` so that drawing ``k`` uniformly and keeping it with ``prob[k]``
    (else taking ``alias[k]``) samples index ``i`` with probability ``weights[i] / weights.sum()``."""
    n = len(weights)
    scaled = np.asarray(weights, dtype=np.float64) * n / np.sum(weights)
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return torch.from_numpy(prob.astype(np.float32)), torch.from_numpy(alias)


class AliasSampler:
    """Draws negatives from a fixed distribution on the device of its tables."""

    def __init__(self, weights: np.ndarray, device: torch.device | str = "cpu"):
        prob, alias = build_alias_table(weights)
        self.prob = prob.to(device)
        self.alias = alias.to(device)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator, seed: int | None = None) -> torch.Tensor:
        """Draw int64 indices of the given shape.

        With ``seed`` on CPU, a compiled draw (``compiled.alias_draw_cpu``) replaces four tensor
        ops; it is reproducible from the seed but a different stream than ``generator`` would give.
        """
        device = self.prob.device
        if seed is not None and device.type == "cpu" and compiled.available():
            return compiled.alias_draw_cpu(self.prob, self.alias, shape, seed)
        k = torch.randint(len(self.prob), shape, generator=generator, device=device)
        u = torch.rand(shape, generator=generator, device=device)
        # take() rather than prob[k]: advanced indexing is several times slower on CPU.
        return torch.where(u < self.prob.take(k), k, self.alias.take(k))
