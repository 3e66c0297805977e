"""Fast CPU engine: word2vec's per-example SGD compiled with numba, Hogwild across threads.

The torch update (:func:`w2v.engines.torch_engine.sgd_step`) applies a whole batch at once, so on
CPU its cost is dominated by gathering and scattering rows through ``index_select`` and
``index_add_``. This kernel walks the same batch example by example like word2vec.c and gensim's
Cython: each example reads and updates its rows in place, with no temporaries, and the batch is
split into one contiguous slice per thread that update the shared tables without locks (Hogwild,
as in word2vec.c). The math is the torch step's, for every model: h = the input row or the
mean/sum of the bag; per output row g = (y - σ(u·h))·lr, neu1e += g·u, u += g·h; then each input
row += neu1e (÷ count for a CBOW sum, as gensim). Only the order of updates inside a batch differs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from w2v.data.batches import ExampleBatch
from w2v.engines.base import Engine, register, step_result
from w2v.kernel_cache import drop_stale_kernels
from w2v.models.word2vec import MAX_EXP, SIGMA_TABLE_SCALE, SIGMA_TABLE_STEP, ModelSpec, Tables, Word2VecModel

try:
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency, but keep torch-only installs working
    HAVE_NUMBA = False


drop_stale_kernels()  # before any kernel loads from numba's cache: see w2v.kernel_cache

# The kernels' ``rule`` argument: bit flags for how σ and saturated rows are treated (:func:`sigma_rule`).
RULE_SKIP, RULE_TABLE = 1, 2

if HAVE_NUMBA:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    # Fast-math without the no-NaN/no-inf assumptions, so a diverging run still reports inf/NaN loss.
    _FASTMATH = {"contract", "reassoc", "arcp", "nsz", "afn"}
    _PREFETCH_AHEAD = 2  # pairs: far enough for a row to arrive from DRAM, near enough to stay in L1
    _LINE_FLOATS = 16  # float32s per 64-byte cache line
    _HS_CACHED_DEPTH = 6  # Huffman nodes above this depth (63 rows) are hot in every path: no prefetch

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

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def _prefetch_example(in_w, out_w, hs_w, inputs, offsets, targets, negatives, points, lengths, i):  # pragma: no cover - compiled
        a, b = (offsets[i], offsets[i + 1]) if offsets.shape[0] else (i, i + 1)
        use_ns, use_hs = out_w.shape[0] > 0, hs_w.shape[0] > 0
        t = targets[i]
        if offsets.shape[0] and i > 0 and b - a > 1 and inputs[a] == inputs[offsets[i - 1]]:
            b = a  # the previous example's bag (a skip-gram center's n-grams, in center order): in cache already
        # In center order a skip-gram center's pairs share its target: its output row and Huffman path are in
        # cache from the first pair on; prefetching them again for every pair cost skip-gram HS a few percent.
        new_target = i == 0 or targets[i - 1] != t
        for col in range(0, in_w.shape[1], _LINE_FLOATS):
            for m in range(a, b):
                _prefetch(in_w, inputs[m], col)
            if use_ns:
                if new_target:
                    _prefetch(out_w, t, col)
                for k in range(negatives.shape[1]):
                    _prefetch(out_w, negatives[i, k], col)
            if use_hs and new_target:  # the top of the tree is shared by every path and stays in cache
                for j in range(_HS_CACHED_DEPTH, lengths[t]):
                    _prefetch(hs_w, points[t, j], col)

    _TABLE_SCALE, _TABLE_STEP = np.float32(SIGMA_TABLE_SCALE), np.float32(SIGMA_TABLE_STEP)  # see w2v.models.word2vec

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def sigma_arg(f, table):  # pragma: no cover - compiled
        """The score at which σ is taken: ``f``, or with ``table`` (|f| < 6) the point word2vec.c's and gensim's
        table lookup reads. Branch-free, so it runs in the σ pass's SIMD lanes."""
        six = np.float32(MAX_EXP)
        xq = -six + _TABLE_STEP * np.float32(math.floor((f + six) * _TABLE_SCALE))
        return xq if table and abs(f) < six else f

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def logistic_update(h, neu1e, w, row, label, lr, rule):  # pragma: no cover - compiled
        """One output row: g = (y - σ(u·h))·lr; neu1e += g·u; u += g·h.

        Returns the row's loss -log σ(±u·h) = softplus(s) in two parts, ``(max(s, 0), 1 + exp(-|s|))``:
        the caller adds the first and multiplies the second into a product whose log it takes once per
        example (one log per example instead of one log1p per row: 10-15% of the kernel's time).
        ``rule`` (:func:`sigma_rule`): RULE_SKIP, no update when |u·h| >= 6 (word2vec.c's hierarchical-softmax
        rule, gensim's for both); RULE_TABLE, σ and the loss at word2vec.c's table point (:func:`sigma_arg`).
        """
        dim = h.shape[0]
        f = np.float32(0.0)  # float32 accumulator keeps the loop in SIMD registers
        for d in range(dim):
            f += h[d] * w[row, d]
        # One exp serves σ and the loss, taken of -|f| so it never overflows: with a = exp(-|f|),
        # -log σ(±f) = softplus(s) = max(s, 0) + log(1 + a) for s = f (a negative) or -f (the target),
        # and σ(f) = 1/(1+a) or a/(1+a). (exp(-f) of a float32 f is a float32 and overflowed past
        # |f| > 88.7, a score healthy tables reach: the loss became inf while the updates were fine.)
        x = sigma_arg(f, True) if (rule & RULE_TABLE) != 0 else f  # a branch: the scalar path skips the table's point
        a = math.exp(-abs(x))
        s = x if label == 0.0 else -x
        linear = max(s, np.float32(0.0))
        if (rule & RULE_SKIP) != 0 and abs(f) >= MAX_EXP:
            return linear, 1.0 + a
        sig = 1.0 / (1.0 + a) if x >= 0 else a / (1.0 + a)
        g = np.float32((label - sig) * lr)
        for d in range(dim):
            neu1e[d] += g * w[row, d]
        for d in range(dim):
            w[row, d] += g * h[d]
        return linear, 1.0 + a

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _scores(h, w, rows, lo, hi, shift, g):  # pragma: no cover - compiled
        """Pass 1 of the three-pass update: g[j] = u_j·h for j in ``lo:hi``, u_j the row ``rows[j] - shift`` of ``w``."""
        dim = h.shape[0]
        for j in range(lo, hi):
            row = w[rows[j] - shift]
            f = np.float32(0.0)
            for d in range(dim):
                f += h[d] * row[d]
            g[j] = f

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _apply(h, neu1e, w, rows, lo, hi, shift, g, skip_zero):  # pragma: no cover - compiled
        """Pass 3: with each row's gradient g[j], neu1e += g·u and u += g·h, one pass over the row (the
        error takes the row's value before its update); rows as in :func:`_scores`. ``skip_zero``: rows
        with g == 0 get nothing."""
        dim = h.shape[0]
        for j in range(lo, hi):
            gj = g[j]
            if skip_zero and gj == 0.0:
                continue
            row = w[rows[j] - shift]
            for d in range(dim):
                neu1e[d] += gj * row[d]
                row[d] += gj * h[d]

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def negatives_update(h, neu1e, w, target, negatives, lr, g, rows, rule):  # pragma: no cover - compiled
        """Negative sampling for one example in :func:`path_update`'s three passes, or None to go row by row.

        Exact only when the rows are distinct (a repeated negative must see its own earlier update), so
        an example with a repeated negative returns False and the caller takes the sequential loop.
        A negative equal to the target is skipped, as there. ``g``, ``rows``: (>= K+1,) scratch.
        ``rule``: as :func:`logistic_update`'s.
        """
        n = 1
        rows[0] = target
        for k in range(negatives.shape[0]):
            r = negatives[k]
            if r == target:
                continue
            for m in range(1, n):
                if rows[m] == r:
                    return False, np.float32(0.0), np.float32(1.0)
            rows[n] = r
            n += 1
        _scores(h, w, rows, 0, n, 0, g)
        cap = np.float32(MAX_EXP) if (rule & RULE_SKIP) != 0 else np.float32(np.inf)
        table = (rule & RULE_TABLE) != 0
        linear, product = np.float32(0.0), np.float32(1.0)
        for j in range(n):
            f = g[j]
            x = sigma_arg(f, True) if table else f
            a = np.float32(math.exp(-abs(x)))
            label = np.float32(1.0) if j == 0 else np.float32(0.0)
            linear += max(x if j > 0 else -x, np.float32(0.0))
            product *= np.float32(1.0) + a
            inv = np.float32(1.0) / (np.float32(1.0) + a)
            gj = (label - (inv if x >= 0 else a * inv)) * lr
            g[j] = gj if abs(f) < cap else np.float32(0.0)
        _apply(h, neu1e, w, rows, 0, n, 0, g, True)  # g == 0 changes nothing: the row is left alone
        return True, linear, product

    @intrinsic
    def _f32_from_bits(typingctx, bits):  # pragma: no cover - compiled
        """The float32 whose bit pattern is the int32 ``bits`` (a bitcast: the compiler vectorises it)."""
        sig = types.float32(types.int32)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())

        return sig, codegen

    _LOG2E = np.float32(1.4426950408889634)
    _LN2_HI = np.float32(0.693145751953125)
    _LN2_LO = np.float32(1.428606765330187e-06)

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def exp_nonpositive(x):  # pragma: no cover - compiled
        """exp(x) for x <= 0 in float32 without a branch or a call, so a loop of them runs in SIMD lanes.

        Cody-Waite: x = n·ln2 + r with |r| <= ln2/2, exp(r) by its degree-6 Taylor polynomial
        (relative error below 2e-7, float32's own rounding), times 2^n built in the exponent bits.
        Below -87 (exp < 1.6e-38, where float32 turns subnormal) it returns exp(-87); a NaN stays NaN, so a
        diverged run's loss still says so."""
        x = np.float32(-87.0) if x < np.float32(-87.0) else x
        n = math.floor(x * _LOG2E + np.float32(0.5))
        r = x - n * _LN2_HI - n * _LN2_LO
        p = np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        p = p * r + np.float32(1.0)
        return p * _f32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _gradient_block(g, codes, lr, cap, table):  # pragma: no cover - compiled
        """:func:`_gradients` on whole arrays (slices of at most 64 nodes): (linear part, product of factors).
        Two inlined copies, ``table`` a constant in each, so the exact σ's lanes do not compute the table's point."""
        if table:
            return _gradient_lanes(g, codes, lr, cap, True)
        return _gradient_lanes(g, codes, lr, cap, False)

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _gradient_lanes(g, codes, lr, cap, table):  # pragma: no cover - compiled
        """:func:`_gradient_block`'s loop.

        Branch-free and call-free (:func:`exp_nonpositive`, selects, and the kernels' numpy error model, which
        drops the division's zero check), and indexed from 0, so the compiler runs 8-16 nodes at a time in SIMD
        lanes. (From a start other than 0 numba's negative-index check kept the loop scalar.)"""
        linear, product = np.float32(0.0), np.float32(1.0)
        one, zero = np.float32(1.0), np.float32(0.0)
        for j in range(g.shape[0]):
            f = g[j]
            af = abs(f)
            x = sigma_arg(f, table)
            a = exp_nonpositive(-abs(x))
            label = one - codes[j]
            linear += max(x - np.float32(2.0) * label * x, zero)  # x for a label 0, -x for a label 1
            product *= one + a
            inv = one / (one + a)
            gj = (label - (inv if x >= zero else a * inv)) * lr
            g[j] = gj if af < cap else zero  # cap: word2vec.c's no update from a saturated node
        return linear, product

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _gradients(g, codes, length, lr, rule):  # pragma: no cover - compiled
        """Pass 2 of the three-pass update: the scores ``g[:length]`` become gradients in place,
        g = (label - σ(f))·lr with label = 1 - code, and their loss is returned as (linear part, folded logs, product)
        (see :func:`logistic_update`): the loss is linear + folded + log(product). ``rule`` as there; RULE_SKIP: word2vec.c's
        hierarchical-softmax rule, no update (g = 0) from a node with |f| >= 6.

        In SIMD lanes (:func:`_gradient_block`), 64 nodes at a time: their factors, each in (1, 2], multiply to a
        finite float32, and a path deeper than 64 nodes folds each further block's product into a log."""
        cap = np.float32(MAX_EXP) if (rule & RULE_SKIP) != 0 else np.float32(np.inf)
        table = (rule & RULE_TABLE) != 0
        first = min(length, 64)
        linear, product = _gradient_block(g[:first], codes[:first], lr, cap, table)
        folded = 0.0
        for lo in range(64, length, 64):
            hi = min(length, lo + 64)
            part, factor = _gradient_block(g[lo:hi], codes[lo:hi], lr, cap, table)
            linear += part
            folded += math.log(factor)
        return linear, folded, product

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def path_update(h, neu1e, w, nodes, codes, length, lr, g, top_w, rule):  # pragma: no cover - compiled
        """Hierarchical softmax along one Huffman path: :func:`logistic_update` for each node, label 1 - code.

        The same arithmetic as calling it node by node, in three passes: every node's score u·h first,
        then every σ, then the updates. A path visits each node once and h stays fixed, so no score
        depends on an earlier node's update; taken apart, the dot products no longer wait in one chain
        behind the previous node's exp, division and row update, and the CPU overlaps them (1.75x fewer
        ns per node on one core: bench/kernel_passes.py). All float32, like the rows.
        ``g``: (>= length,) scratch, the scores and then the gradients. Returns the loss as ``logistic_update``.

        ``top_w``: the thread's private copy of the tree's last ``P = len(top_w)`` rows (P = 0: none), the
        nodes every path starts with (:func:`w2v.engines.hogwild.merge_top_nodes`). Inner nodes are made
        in order of count, so the highest ids are the top of the tree and a path, root first, holds them
        as a prefix: those nodes are read and updated in ``top_w``, the rest in ``w``. ``rule``: its RULE_TABLE
        bit (:func:`logistic_update`); a saturated node never gets an update.
        """
        base = w.shape[0] - top_w.shape[0]
        top = 0
        while top < length and nodes[top] >= base:
            top += 1
        _scores(h, top_w, nodes, 0, top, base, g)
        _scores(h, w, nodes, top, length, 0, g)
        linear, folded, product = _gradients(g, codes, length, lr, rule | RULE_SKIP)
        _apply(h, neu1e, top_w, nodes, 0, top, base, g, True)  # g == 0: a saturated node (or lr 0), no update
        _apply(h, neu1e, w, nodes, top, length, 0, g, True)
        return linear + folded, product

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def prefetch_window(in_w, w, inputs, a, b, nodes, start, length):  # pragma: no cover - compiled
        """Start loading the rows of a window's batched step (:func:`batched_window_update`): its context rows
        ``inputs[a:b]`` and its output rows ``nodes[start:length]`` (a path starts below the top of the tree,
        which every path shares and which stays in cache)."""
        for col in range(0, in_w.shape[1], _LINE_FLOATS):
            for m in range(a, b):
                _prefetch(in_w, inputs[m], col)
            for j in range(start, length):
                _prefetch(w, nodes[j], col)

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def batched_window_update(
        in_w, hs_w, top_w, inputs, a, b, nodes, codes, length, lr, H, E, scratch, rule
    ):  # pragma: no cover - compiled
        """A run of one skip-gram center's pairs in one batched step (``batch_windows``): the pairs ``a:b`` (context
        rows ``inputs[a:b]``, distinct) share their output rows ``nodes[:length]``, the center's Huffman path
        (``rule`` with RULE_SKIP) or its target and shared negatives (``codes`` 0 then 1s: label = 1 - code).

        Instead of ``b - a`` sequential steps, every score u_j·h_c is taken from the rows as they were when the
        run started, then every gradient g_cj, then each context's error e_c = sum_j g_cj u_j, then each output
        row moves once by sum_c g_cj h_c and each context row by its error: the window's updates become small
        matrix products (pWord2Vec, Ji et al. 2016), each output row read and written once per run instead of
        once per pair, and the loops take four rows at a time so each load serves four multiply-adds. Not
        word2vec.c's arithmetic: a pair does not see the run's earlier pairs' updates of the output rows.
        ``top_w`` as in :func:`path_update`. ``H``, ``E``: (>= b - a, dim) scratch; ``scratch``: (>= 2 (b - a) length,),
        the scores and then the gradients (as a (b - a, length) matrix), and the codes repeated for each context.
        Returns the run's loss as (linear part, log part) (see :func:`logistic_update`).
        """
        dim = in_w.shape[1]
        n = b - a
        m = n * length
        G = scratch[:m].reshape((n, length))
        # A node's row comes from top_w (the thread's private top of the tree) when nodes[j] >= base, else from hs_w.
        # Written out at each use: the same choice in an inlined helper that returns the row ran 20% slower.
        base = hs_w.shape[0] - top_w.shape[0]
        for c in range(n):
            row, hc, ec = in_w[inputs[a + c]], H[c], E[c]
            for d in range(dim):
                hc[d] = row[d]
                ec[d] = 0.0
        # Scores: each output row against four contexts at a time.
        for j in range(length):
            u = top_w[nodes[j] - base] if nodes[j] >= base else hs_w[nodes[j]]
            c = 0
            while c + 4 <= n:
                h0, h1, h2, h3 = H[c], H[c + 1], H[c + 2], H[c + 3]
                f0, f1, f2, f3 = np.float32(0.0), np.float32(0.0), np.float32(0.0), np.float32(0.0)
                for d in range(dim):
                    ud = u[d]
                    f0 += h0[d] * ud
                    f1 += h1[d] * ud
                    f2 += h2[d] * ud
                    f3 += h3[d] * ud
                G[c, j], G[c + 1, j], G[c + 2, j], G[c + 3, j] = f0, f1, f2, f3
                c += 4
            while c < n:
                hc = H[c]
                f = np.float32(0.0)
                for d in range(dim):
                    f += hc[d] * u[d]
                G[c, j] = f
                c += 1
        # Gradients and loss: path_update's second pass, over all the run's scores at once (its SIMD lanes fill up
        # even when the rows are few: a target and 5 negatives are 6 per context, 6n per run).
        tiled = scratch[m : 2 * m]
        for c in range(n):
            tiled[c * length : (c + 1) * length] = codes[:length]
        linear, folded, product = _gradients(scratch[:m], tiled, m, lr, rule)
        logs = folded + math.log(product)
        # Errors from the output rows before their update (word2vec.c's neu1e), four rows at a time.
        for c in range(n):
            gc, ec = G[c], E[c]
            j = 0
            while j + 4 <= length:
                u0 = top_w[nodes[j] - base] if nodes[j] >= base else hs_w[nodes[j]]
                u1 = top_w[nodes[j + 1] - base] if nodes[j + 1] >= base else hs_w[nodes[j + 1]]
                u2 = top_w[nodes[j + 2] - base] if nodes[j + 2] >= base else hs_w[nodes[j + 2]]
                u3 = top_w[nodes[j + 3] - base] if nodes[j + 3] >= base else hs_w[nodes[j + 3]]
                g0, g1, g2, g3 = gc[j], gc[j + 1], gc[j + 2], gc[j + 3]
                for d in range(dim):
                    ec[d] += g0 * u0[d] + g1 * u1[d] + g2 * u2[d] + g3 * u3[d]
                j += 4
            while j < length:
                u, g = top_w[nodes[j] - base] if nodes[j] >= base else hs_w[nodes[j]], gc[j]
                for d in range(dim):
                    ec[d] += g * u[d]
                j += 1
        # Each output row once, by the sum of its contexts' updates, four contexts at a time.
        for j in range(length):
            u = top_w[nodes[j] - base] if nodes[j] >= base else hs_w[nodes[j]]
            c = 0
            while c + 4 <= n:
                h0, h1, h2, h3 = H[c], H[c + 1], H[c + 2], H[c + 3]
                g0, g1, g2, g3 = G[c, j], G[c + 1, j], G[c + 2, j], G[c + 3, j]
                for d in range(dim):
                    u[d] += g0 * h0[d] + g1 * h1[d] + g2 * h2[d] + g3 * h3[d]
                c += 4
            while c < n:
                g, hc = G[c, j], H[c]
                for d in range(dim):
                    u[d] += g * hc[d]
                c += 1
        for c in range(n):
            row, ec = in_w[inputs[a + c]], E[c]
            for d in range(dim):
                row[d] += ec[d]
        return linear, logs

    @njit(cache=True, nogil=True, inline="always")
    def _distinct(inputs, a, b):  # pragma: no cover - compiled
        """True when ``inputs[a:b]`` holds no row twice (a bag of a few dozen rows: pairwise is cheapest)."""
        for m in range(a + 1, b):
            for k in range(a, m):
                if inputs[k] == inputs[m]:
                    return False
        return True

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _add_to_rows(in_w, inputs, a, b, scale, delta):  # pragma: no cover - compiled
        """Every row of the bag ``inputs[a:b]`` += ``scale * delta``."""
        for m in range(a, b):
            row = in_w[inputs[m]]
            for d in range(delta.shape[0]):
                row[d] += scale * delta[d]

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def train_examples(
        in_w, out_w, hs_w, inputs, offsets, targets, negatives, points, codes, lengths, bag_mean, lr, lo, hi, h, neu1e, top_w, rule
    ):  # fmt: skip  # pragma: no cover - compiled
        """word2vec.c's per-example loop over examples ``lo:hi``, in order, on one thread; returns their loss.

        engine=hogwild's kernels compile this in too; numba's on-disk cache would keep their old copy after
        an edit here, so :mod:`w2v.kernel_cache` drops every cached kernel when any kernel source changes.

        offsets: (B+1,) CSR bags, or empty for one input per example (skip-gram). bag_mean: average a
        bag (CBOW with cbow_mean, any skip-gram bag of a word and its n-grams), else sum it. out_w empty: no
        negative sampling. hs_w empty: no hierarchical softmax. h, neu1e: (dim,) scratch vectors, private
        to the thread: the compiler can then vectorise the row updates (no aliasing with the tables), and
        h is exact because the input rows change only after all output rows (word2vec.c's neu1 / neu1e).
        top_w: the thread's private copy of the Huffman tree's top rows (:func:`path_update`), (0, dim) for none.
        rule (:func:`sigma_rule`): RULE_SKIP, negative sampling takes gensim's rule, no update from an output row with
        |u·h| >= 6 (``ns_skip_saturated``; without it every row moves, as word2vec.c's clipped σ does); RULE_TABLE, σ as
        word2vec.c's and gensim's table gives it (``sigma_table``), for every output row.
        """
        dim = in_w.shape[1]
        n_neg = negatives.shape[1]
        use_ns, use_hs, bags = out_w.shape[0] > 0, hs_w.shape[0] > 0, offsets.shape[0] > 0
        lr32 = np.float32(lr)
        scratch = np.empty(points.shape[1], dtype=np.float32)  # a Huffman path's scores, then its gradients
        ns_g, ns_rows = np.empty(n_neg + 1, dtype=np.float32), np.empty(n_neg + 1, dtype=np.int64)
        # The pending bag's deferred update (see below): ``pscale`` times its error, which is ``neu1e`` while the bag
        # has been trained once (neu1e holds it until the next example starts) and the sum in ``owed`` once it is
        # trained again (the same bag, so the same scale).
        owed = np.empty(dim, dtype=np.float32)
        pending, summed, pa, pb, pscale, distinct = False, False, 0, 0, np.float32(1.0), False
        loss = 0.0
        for i in range(lo, hi):
            if i + _PREFETCH_AHEAD < hi:
                _prefetch_example(in_w, out_w, hs_w, inputs, offsets, targets, negatives, points, lengths, i + _PREFETCH_AHEAD)
            a, b = (offsets[i], offsets[i + 1]) if bags else (i, i + 1)
            if b == a:
                continue
            # A bag trained again straight away (a skip-gram center's word and n-grams, once per context word)
            # is not read again: every row of a bag of distinct rows gets the same update, so the bag's mean
            # (or sum) moves by exactly the last example's error, and h += neu1e is its new value. Its rows'
            # updates wait until the bag changes: one read and one write of the bag per center instead of one
            # per pair. A bag that holds a row twice moves by more, so it is read afresh. (Any other bag, a CBOW
            # window, gets its update as the next example starts: the same arithmetic as straight away.)
            reuse = False
            if pending:
                same = b - a == pb - pa
                m = 0
                while same and m < b - a:
                    same = inputs[a + m] == inputs[pa + m]
                    m += 1
                if same and not distinct:
                    distinct = _distinct(inputs, a, b)
                reuse = same and distinct
                if not reuse:
                    _add_to_rows(in_w, inputs, pa, pb, pscale, owed if summed else neu1e)
                    pending, distinct = False, False
                elif not summed:
                    owed[:] = neu1e
                    summed = True
            first = inputs[a]
            if reuse:
                for d in range(dim):
                    h[d] += neu1e[d]
                    neu1e[d] = 0.0
            else:
                for d in range(dim):
                    h[d] = in_w[first, d]
                    neu1e[d] = 0.0
                for m in range(a + 1, b):
                    # A row view first: numba vectorises row[d] but not in_w[inputs[m], d] (8x slower bags).
                    row = in_w[inputs[m]]
                    for d in range(dim):
                        h[d] += row[d]
                if bag_mean and b - a > 1:
                    inv = np.float32(1.0 / (b - a))
                    for d in range(dim):
                        h[d] *= inv
            t = targets[i]
            done = False
            linear, product = 0.0, 1.0  # the example's loss is linear + log(product) (see logistic_update)
            if use_ns and n_neg < 100:
                done, part, factor = negatives_update(h, neu1e, out_w, t, negatives[i], lr32, ns_g, ns_rows, rule)
                if done:
                    linear, product = linear + part, product * factor
            if use_ns and not done:
                part, factor = logistic_update(h, neu1e, out_w, t, 1.0, lr, rule)
                linear, product = linear + part, product * factor
                for k in range(n_neg):
                    if negatives[i, k] != t:  # a negative equal to the target is skipped
                        part, factor = logistic_update(h, neu1e, out_w, negatives[i, k], 0.0, lr, rule)
                        linear, product = linear + part, product * factor
            if use_hs:
                part, factor = path_update(h, neu1e, hs_w, points[t], codes[t], lengths[t], lr32, scratch, top_w, rule)
                linear, product = linear + part, product * factor
            loss += linear + math.log(product)  # each factor is in (1, 2]: no overflow below 1000 rows
            if b - a == 1:  # skip-gram: h is still the row's value, so write it without reading
                for d in range(dim):
                    in_w[first, d] = h[d] + neu1e[d]
                continue
            # word2vec.c / gensim: every input row gets the whole error with a mean, error/count with a
            # sum. A skip-gram bag (a word and its n-grams) is a mean: fastText's and gensim's FastText
            # add the whole error to each row of the bag too. The rows get it when the bag changes.
            if reuse:
                for d in range(dim):
                    owed[d] += neu1e[d]
            else:
                pending, summed, pa, pb = True, False, a, b
                pscale = np.float32(1.0) if bag_mean else np.float32(1.0 / (b - a))
        if pending:
            _add_to_rows(in_w, inputs, pa, pb, pscale, owed if summed else neu1e)
        return loss

    @njit(parallel=True, fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def _word2vec_hogwild(
        in_w, out_w, hs_w, inputs, offsets, targets, negatives, points, codes, lengths, bag_mean, lr, n_slices, rule
    ):  # pragma: no cover - compiled
        """:func:`train_examples` over ``n_slices`` contiguous slices of the batch, one per thread (Hogwild)."""
        n_examples, dim = targets.shape[0], in_w.shape[1]
        losses = np.zeros(n_slices, dtype=np.float64)
        no_top = np.zeros((0, dim), dtype=np.float32)
        for s in prange(n_slices):
            h = np.empty(dim, dtype=np.float32)
            neu1e = np.empty(dim, dtype=np.float32)
            lo, hi = s * n_examples // n_slices, (s + 1) * n_examples // n_slices
            losses[s] = train_examples(
                in_w, out_w, hs_w, inputs, offsets, targets, negatives, points, codes, lengths, bag_mean, lr, lo, hi, h, neu1e, no_top,
                rule,
            )  # fmt: skip
        return losses.sum()


def available() -> bool:
    """True when the compiled kernel can run (numba importable)."""
    return HAVE_NUMBA


def set_threads(n: int) -> None:
    """Threads the kernel splits each batch over."""
    if HAVE_NUMBA:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


_EMPTY_I64 = np.zeros(0, dtype=np.int64)


def cpu_kernel_unavailable(name: str, cfg: Any, device: torch.device) -> str | None:
    """Why engine ``name``, one of the compiled CPU engines (numba, hogwild), cannot run the job, or None."""
    if device.type != "cpu":
        return f"engine={name} runs on the CPU but device={device}: use engine=torch (engine=triton for CUDA) or device=cpu"
    if not HAVE_NUMBA:
        return f"engine={name} needs numba: pip install numba, or use engine=torch"
    if cfg.optim != "sgd":
        return f"engine={name} implements optim=sgd only: use engine=torch for other optimizers"
    return None


def sigma_rule(ns_skip_saturated: bool, sigma_table: bool) -> int:
    """The compiled kernels' ``rule`` argument from the two config keys (``ns_skip_saturated``, ``sigma_table``)."""
    return (RULE_SKIP if ns_skip_saturated else 0) | (RULE_TABLE if sigma_table else 0)


def word2vec_step_cpu(
    tables: Tables,
    spec: ModelSpec,
    inputs: torch.Tensor,
    offsets: torch.Tensor | None,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    lr: float,
    ns_skip_saturated: bool = False,
    sigma_table: bool = False,
) -> torch.Tensor:
    """Same contract as :func:`w2v.engines.torch_engine.sgd_step`, for contiguous float32 CPU tables;
    the updates are applied example by example instead of summed."""
    n_slices = numba.get_num_threads() if len(targets) >= 1024 else 1
    loss = _word2vec_hogwild(
        tables.in_w.numpy(), tables.out_w.numpy(), tables.hs_w.numpy(), inputs.numpy(),
        offsets.numpy() if offsets is not None else _EMPTY_I64, targets.numpy(), negatives.numpy(),
        tables.points.numpy(), tables.codes.numpy(), tables.lengths.numpy(), spec.bag_mean, float(lr), n_slices,
        sigma_rule(ns_skip_saturated, sigma_table),
    )  # fmt: skip
    return torch.tensor(loss, dtype=torch.float64)


class NumbaEngine(Engine):
    """word2vec.c's per-example SGD compiled for CPU threads (Hogwild): the fast CPU engine."""

    name = "numba"
    # Updates stay sequential whatever the batch; bigger batches only save thread barriers.
    default_batch = 32768
    shuffle = False  # word2vec's center-by-center order keeps the center's output row and path in cache
    overlaps_stream = True  # the kernel runs without the GIL

    @classmethod
    def unavailable(cls, cfg: Any, device: torch.device) -> str | None:
        return cpu_kernel_unavailable(cls.name, cfg, device)

    def __init__(self, model: Word2VecModel, cfg: Any, device: torch.device, threads: int):
        super().__init__(model, cfg, device, threads)
        # The kernel owns the cores. torch's small stream ops stay on one thread: an idle OpenMP
        # pool spin-waits after each parallel op and would steal cycles from the kernel's threads.
        set_threads(threads)  # first: with numba's OpenMP layer this resets torch's thread count too
        torch.set_num_threads(1)
        self.spec, self.tables = model.spec, model.tables()

    def step(self, batch: ExampleBatch, lr: float, lr_end: float) -> torch.Tensor:
        """One batch at ``lr`` (``lr_end`` is for chunk engines); (summed loss, examples) as in :meth:`Engine.step`."""
        cfg = self.cfg
        loss = word2vec_step_cpu(
            self.tables, self.spec, batch.inputs, batch.offsets, batch.targets, batch.negatives, lr, bool(cfg.ns_skip_saturated),
            bool(cfg.sigma_table),
        )  # fmt: skip
        return step_result(loss, len(batch))


register(NumbaEngine, auto_rank=0)
