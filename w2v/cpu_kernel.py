"""Fast CPU update: word2vec's per-pair SGD compiled with numba, Hogwild across threads.

The torch update (:func:`w2v.model.sgns_sgd_step`) applies a whole batch at once, so on CPU its
cost is dominated by gathering and scattering 7 rows per pair through ``index_select`` and
``index_add_``. This kernel walks the same batch pair by pair like word2vec.c and gensim's
Cython: each pair reads and updates its rows in place, with no temporaries, and the batch is split
into one contiguous slice per thread that update the shared tables without locks (Hogwild, as in
word2vec.c). The math is the same as the torch step: g = (y - σ(u·h))·lr, u += g·h, h += Σ g·u,
a negative equal to the context is skipped. Only the order of updates inside a batch differs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency, but keep torch-only installs working
    HAVE_NUMBA = False


if HAVE_NUMBA:

    @njit(parallel=True, fastmath=True, cache=True, nogil=True)
    def _sgns_hogwild(in_w, out_w, centers, contexts, negatives, lr, n_slices):  # pragma: no cover - compiled
        n_pairs, dim = centers.shape[0], in_w.shape[1]
        n_neg = negatives.shape[1]
        losses = np.zeros(n_slices, dtype=np.float64)
        for s in prange(n_slices):
            lo = s * n_pairs // n_slices
            hi = (s + 1) * n_pairs // n_slices
            neu1e = np.empty(dim, dtype=np.float32)
            loss = 0.0
            for i in range(lo, hi):
                c = centers[i]
                ctx = contexts[i]
                h = in_w[c]
                neu1e[:] = 0.0
                for k in range(n_neg + 1):
                    if k == 0:
                        t = ctx
                        label = 1.0
                    else:
                        t = negatives[i, k - 1]
                        if t == ctx:
                            continue
                        label = 0.0
                    u = out_w[t]
                    f = np.float32(0.0)  # float32 accumulator keeps the loop in SIMD registers
                    for d in range(dim):
                        f += h[d] * u[d]
                    # log σ(±f) computed stably: -log(1 + exp(-|x|)) + min(x, 0)
                    x = f if label == 1.0 else -f
                    loss += math.log1p(math.exp(-abs(x))) - min(x, 0.0)
                    g = np.float32((label - 1.0 / (1.0 + math.exp(-f))) * lr)
                    for d in range(dim):
                        neu1e[d] += g * u[d]
                        u[d] += g * h[d]
                for d in range(dim):
                    h[d] += neu1e[d]
            losses[s] = loss
        return losses.sum()


def available() -> bool:
    """True when the compiled kernel can run (numba importable)."""
    return HAVE_NUMBA


def set_threads(n: int) -> None:
    """Threads the kernel splits each batch over."""
    if HAVE_NUMBA:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def sgns_sgd_step_cpu(
    in_w: torch.Tensor, out_w: torch.Tensor, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor, lr: float
) -> torch.Tensor:
    """Same contract as :func:`w2v.model.sgns_sgd_step`, for contiguous float32 CPU tables."""
    n_slices = numba.get_num_threads() if len(centers) >= 1024 else 1
    loss = _sgns_hogwild(in_w.numpy(), out_w.numpy(), centers.numpy(), contexts.numpy(), negatives.numpy(), float(lr), n_slices)
    return torch.tensor(loss, dtype=torch.float64)
