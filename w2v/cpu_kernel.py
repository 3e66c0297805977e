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
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    # Fast-math without the no-NaN/no-inf assumptions, so a diverging run still reports inf/NaN loss.
    _FASTMATH = {"contract", "reassoc", "arcp", "nsz", "afn"}
    _PREFETCH_AHEAD = 2  # pairs: far enough for a row to arrive from DRAM, near enough to stay in L1
    _LINE_FLOATS = 16  # float32s per 64-byte cache line

    @intrinsic
    def _prefetch(typingctx, arr, row, col):  # pragma: no cover - compiled
        """Ask the CPU to start loading the cache line holding ``arr[row, col]`` (LLVM prefetch)."""

        def codegen(context, builder, signature, args):
            arr_t = signature.args[0]
            ary = context.make_array(arr_t)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, arr_t, ary, [args[1], args[2]])
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
            # rw=1 (we will write the row), locality=3 (keep in all cache levels), data cache.
            builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, types.intp, types.intp), codegen

    @njit(fastmath=_FASTMATH, cache=True, nogil=True)
    def _prefetch_pair(in_w, out_w, centers, contexts, negatives, i):  # pragma: no cover - compiled
        for col in range(0, in_w.shape[1], _LINE_FLOATS):
            _prefetch(in_w, centers[i], col)
            _prefetch(out_w, contexts[i], col)
            for k in range(negatives.shape[1]):
                _prefetch(out_w, negatives[i, k], col)

    @njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
    def _sgns_hogwild(in_w, out_w, centers, contexts, negatives, lr, n_slices):  # pragma: no cover - compiled
        n_pairs, dim = centers.shape[0], in_w.shape[1]
        n_neg = negatives.shape[1]
        losses = np.zeros(n_slices, dtype=np.float64)
        for s in prange(n_slices):
            lo = s * n_pairs // n_slices
            hi = (s + 1) * n_pairs // n_slices
            neu1e = np.empty(dim, dtype=np.float32)
            # A private copy of the center's row: the compiler can then vectorise the row updates
            # (no aliasing with out_w), and it is exact because h changes only after all targets.
            h = np.empty(dim, dtype=np.float32)
            loss = 0.0
            for i in range(lo, hi):
                if i + _PREFETCH_AHEAD < hi:
                    _prefetch_pair(in_w, out_w, centers, contexts, negatives, i + _PREFETCH_AHEAD)
                c = centers[i]
                ctx = contexts[i]
                for d in range(dim):
                    h[d] = in_w[c, d]
                    neu1e[d] = 0.0
                for k in range(n_neg + 1):
                    if k == 0:
                        t = ctx
                        label = 1.0
                    else:
                        t = negatives[i, k - 1]
                        if t == ctx:
                            continue
                        label = 0.0
                    f = np.float32(0.0)  # float32 accumulator keeps the loop in SIMD registers
                    for d in range(dim):
                        f += h[d] * out_w[t, d]
                    # One exp serves both: σ(f) = 1/(1+e) and -log σ(±f) = log(1+e) + (1-y)·f, e = exp(-f).
                    e = math.exp(-f)  # float64: overflows only past |f| > 709, i.e. on real divergence
                    loss += math.log1p(e) + (1.0 - label) * f
                    g = np.float32((label - 1.0 / (1.0 + e)) * lr)
                    for d in range(dim):
                        neu1e[d] += g * out_w[t, d]
                    for d in range(dim):
                        out_w[t, d] += g * h[d]
                for d in range(dim):
                    in_w[c, d] = h[d] + neu1e[d]
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


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _window_pairs(tokens, sentence, radius, out_centers, out_contexts):  # pragma: no cover - compiled
        n, p = tokens.shape[0], 0
        for i in range(n):
            lo, hi = max(0, i - radius[i]), min(n - 1, i + radius[i])
            for j in range(lo, hi + 1):
                if j != i and sentence[j] == sentence[i]:
                    out_centers[p] = tokens[i]
                    out_contexts[p] = tokens[j]
                    p += 1
        return p


def window_pairs_cpu(tokens: torch.Tensor, sentence: torch.Tensor, radius: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Skip-gram pairs of CPU tensors in word2vec's center-by-center order, in one compiled pass.

    Same pairs and order as ``w2v.pairs.skipgram_pairs(..., center_order=True)``, without
    materialising a mask per offset or sorting.
    """
    bound = int(2 * radius.sum()) if len(radius) else 0
    centers = torch.empty(bound, dtype=torch.int64)
    contexts = torch.empty(bound, dtype=torch.int64)
    n = _window_pairs(tokens.numpy(), sentence.numpy(), radius.numpy(), centers.numpy(), contexts.numpy())
    return centers[:n], contexts[:n]


if HAVE_NUMBA:

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


def alias_draw_cpu(prob: torch.Tensor, alias: torch.Tensor, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Draw ``shape`` indices from an alias table in one compiled pass, reproducibly from ``seed``."""
    out = torch.empty(shape, dtype=torch.int64)
    _alias_draw(prob.numpy(), alias.numpy(), seed, out.view(-1).numpy())
    return out
