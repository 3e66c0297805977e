"""word2vec.c's training threads, compiled with numba: every thread walks its own blocks of the id file.

The example engines get their pairs from a stream that one producer thread builds; on a machine
with many cores that thread cannot keep up, and on two it competes with the kernel for a core.
This engine has no producer. The trainer hands it a *span chunk*: a zero-copy view of a run of
blocks of the encoded corpus (the id file, memory-mapped) and the blocks' bounds. Inside one
compiled call the blocks are shared out over the threads, and each thread does everything
word2vec.c's ``TrainModelThread`` does for its blocks: map provisional ids to vocabulary ids,
subsample, draw each center's window, draw negatives from the alias table, and update the tables
in place without locks (Hogwild). No pair or negative array is ever materialised.

Randomness is a splitmix64 generator per block, seeded from ``(seed, epoch, block)`` like the
example stream's, so a block draws the same subsampling, windows and negatives whichever thread
trains it: a resume is bit-exact with one thread, and the result depends on the thread count only
through Hogwild's interleaving. The learning rate decays linearly inside the chunk, block by block
and sentence by sentence, from the chunk's first word to its last.

The update is the example kernel's (:func:`w2v.engines.numba_engine.train_examples`) for every model: skip-gram (the
context row predicts the center), CBOW (mean or sum of the context rows), negative sampling and/or
hierarchical softmax, and character n-gram bags (fastText's roles: the center's bag predicts the
context word). ``shared_negatives`` draws one set of K negatives per center for its whole window
(Ji et al. 2016, pWord2Vec), so a window's output rows are read from memory once; for CBOW, whose window is
one example, ``window`` consecutive windows share one set. With hierarchical softmax and two or more threads,
each thread trains the Huffman tree's top ``hs_private_nodes`` rows, where every path starts, in a private copy
merged into the shared rows every few hundred walks (:func:`merge_top_nodes`): shared, those rows moved between
the cores on nearly every example, and two threads trained slower than one. The most frequent words' rows are the
same kind of hot spot for every model: with ``private_rows`` each thread trains the top N words' input rows (and
output rows, with negative sampling alone) in a private copy kept after the shared rows in the same buffer, its
examples pointed there by remapped ids, and merged every 16N examples and at each block's end
(:func:`merge_private_rows`).
``batch_windows`` trains a skip-gram center's pairs, which share their output rows (its Huffman path, or its
target and shared negatives), as one batched step (:func:`train_window_runs`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from w2v.data.batches import SpanChunk
from w2v.data.stream import Word2VecStream, block_seed
from w2v.engines.base import Engine, register
from w2v.engines.levers import window_levers
from w2v.engines.numba_engine import cpu_kernel_unavailable, set_threads, sigma_rule
from w2v.models.word2vec import Word2VecModel

try:
    from numba import get_thread_id, njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency, but keep torch-only installs working
    HAVE_NUMBA = False

if HAVE_NUMBA:
    import numba

    # The per-example loop and its update rule are the example kernel's: one copy of the math for both.
    from w2v.engines.numba_engine import (
        _FASTMATH,
        _HS_CACHED_DEPTH,
        RULE_SKIP,
        batched_window_update,
        prefetch_window,
        train_examples,
    )

    _HOT_MERGE = 16  # private_rows: examples per hot row between two merges into the shared rows
    _PIECE = 256  # centers whose examples are made at a time: a few KB of scratch that stays in cache

    _GOLDEN = np.uint64(0x9E3779B97F4A7C15)
    _M1 = np.uint64(0xBF58476D1CE4E5B9)
    _M2 = np.uint64(0x94D049BB133111EB)
    _S30, _S27, _S31, _S32, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32), np.uint64(40)
    _U24 = np.float32(1.0 / 16777216.0)

    @njit(cache=True, nogil=True, inline="always")
    def _mix(x):  # pragma: no cover - compiled
        """splitmix64's output function: a well-mixed 64-bit value from the generator's counter."""
        z = (x ^ (x >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def draw_negative(state, prob, alias):  # pragma: no cover - compiled
        """One negative from the alias table: (word, new generator state). The high 32 bits pick the bucket
        (multiply-shift), the low 24 bits are the coin, as in the example stream's compiled draw."""
        state += _GOLDEN
        z = _mix(state)
        bucket = np.int64(((z >> _S32) * np.uint64(prob.shape[0])) >> _S32)
        return (bucket if np.float32(z & np.uint64(0xFFFFFF)) * _U24 < prob[bucket] else alias[bucket]), state

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _add_bag(word, bag_inputs, bag_offsets, inputs, n_in):  # pragma: no cover - compiled
        """Append ``word``'s input rows (the word alone, or its bag of n-gram rows) to ``inputs``; returns the new length."""
        if bag_offsets.shape[0] == 0:
            inputs[n_in] = word
            return n_in + 1
        for m in range(bag_offsets[word], bag_offsets[word + 1]):
            inputs[n_in] = bag_inputs[m]
            n_in += 1
        return n_in

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def piece_examples(
        sen, n, c0, c1, radius, bag_inputs, bag_offsets, prob, alias, negatives, cbow, share, state, inputs, offsets, targets, negs
    ):  # pragma: no cover - compiled
        """The examples of centers ``c0:c1`` of ``sen[:n]`` into the thread's scratch buffers, in word2vec.c's
        order, with their negatives: skip-gram pairs (the context predicts the center; with n-gram bags the
        center's bag predicts the context, fastText's roles) or CBOW windows. Returns (examples, state).

        ``share`` (0: off): skip-gram draws one set of negatives per center for its whole window; CBOW draws
        one set per ``share`` consecutive windows, so their output rows are read from memory once."""
        bags = bag_offsets.shape[0] > 0
        e, n_in = 0, 0
        group_src, group_left = 0, 0  # CBOW sharing: the window that drew the group's negatives, windows left
        offsets[0] = 0
        for i in range(c0, c1):
            lo, hi = max(0, i - radius[i - c0]), min(n, i + radius[i - c0] + 1)
            first = e
            for j in range(lo, hi):
                if j == i:
                    continue
                if cbow:
                    n_in = _add_bag(sen[j], bag_inputs, bag_offsets, inputs, n_in)
                    continue
                if bags:
                    n_in = _add_bag(sen[i], bag_inputs, bag_offsets, inputs, n_in)
                    targets[e] = sen[j]
                else:
                    inputs[e] = sen[j]
                    targets[e] = sen[i]
                e += 1
                offsets[e] = n_in
            if cbow and n_in > offsets[e]:
                targets[e] = sen[i]
                e += 1
                offsets[e] = n_in
            if cbow and share > 1:
                if e > first:  # this center made a window: it draws for its group, or takes the group's
                    if group_left == 0:
                        for k in range(negatives):
                            negs[first, k], state = draw_negative(state, prob, alias)
                        group_src, group_left = first, share
                    else:
                        for k in range(negatives):
                            negs[first, k] = negs[group_src, k]
                    group_left -= 1
                continue
            for k in range(negatives):  # each example draws its own, or (share) the center's first is copied
                for x in range(first, e):
                    if share > 0 and x > first:
                        negs[x, k] = negs[first, k]
                    else:
                        negs[x, k], state = draw_negative(state, prob, alias)
        return e, state

    @njit(cache=True, nogil=True)
    def read_sentence(ids, pos, hi, remap, keep_prob, state, sen):  # pragma: no cover - compiled
        """The next sentence of ``ids[pos:hi]`` into ``sen``: provisional ids mapped to vocabulary ids, words
        below min_count dropped, frequent words subsampled (kept with ``keep_prob``). It ends at a separator
        (-1), which is consumed, or at ``hi``. Returns (words in sen, next position, generator state)."""
        n = 0
        while pos < hi:
            raw = ids[pos]
            pos += 1
            if raw < 0:  # the sentence separator
                break
            w = remap[raw]
            if w < 0:  # below min_count
                continue
            if keep_prob[w] < 1.0:  # word2vec.c's subsampling of frequent words
                state += _GOLDEN
                if np.float32(_mix(state) >> _S40) * _U24 >= keep_prob[w]:
                    continue
            sen[n] = w
            n += 1
        return n, pos, state

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _merge_rows(shared_w, shared_lo, mine_w, mine_lo, n, snap, add):  # pragma: no cover - compiled
        """Rows ``mine_w[mine_lo:mine_lo + n]``, a thread's private copy of ``shared_w[shared_lo:shared_lo + n]``:
        with ``add``, the change since the last merge (against ``snap``) goes into the shared rows first; then the
        copy and ``snap`` take the shared rows' value. ``add`` False starts a copy."""
        for r in range(n):
            shared, mine, last = shared_w[shared_lo + r], mine_w[mine_lo + r], snap[r]
            for d in range(shared.shape[0]):
                if add:
                    shared[d] += mine[d] - last[d]
                mine[d] = shared[d]
                last[d] = shared[d]

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def merge_top_nodes(hs_w, top_w, snap):  # pragma: no cover - compiled
        """Add the thread's change to its private top-of-tree rows (``top_w`` against ``snap``, their value at the
        last merge) to the shared rows, the last ``len(top_w)`` of ``hs_w``, and take their new value back.

        Every Huffman path starts at the root, so with two or more threads the top nodes' rows were written by
        every thread on every example and their cache lines moved between the cores each time. A private copy
        keeps them in the thread's own cache; the merge adds the changes without locks, as Hogwild does."""
        _merge_rows(hs_w, hs_w.shape[0] - top_w.shape[0], top_w, 0, top_w.shape[0], snap, True)

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def sync_private_rows(w, off, hot, snap):  # pragma: no cover - compiled
        """Start a block's private copy of the ``hot`` most frequent words' rows: ``w[off + r] = w[r]``, and ``snap``
        (their value at the last merge) the same."""
        _merge_rows(w, 0, w, off, hot, snap, False)

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def merge_private_rows(w, off, hot, snap):  # pragma: no cover - compiled
        """Add the thread's change to its private rows ``w[off:off + hot]`` (against ``snap``, their value at the last
        merge) to the shared rows ``w[:hot]``, and take their new value back (``private_rows``).

        The most frequent words' rows are read and written by every thread many times a millisecond, so shared
        their cache lines moved between the cores on nearly every example. The private rows live in the same
        array as the shared ones, after them, and the thread's examples address them by remapped ids
        (:func:`remap_hot`): the kernel never chooses between two arrays."""
        _merge_rows(w, 0, w, off, hot, snap, True)

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True, inline="always")
    def _private_both(in_w, out_w, in_off, out_off, hot, snap_in, snap_out, add):  # pragma: no cover - compiled
        """:func:`sync_private_rows` (``add`` False) or :func:`merge_private_rows` on the input table, and on the
        output table when it has private rows (``out_off`` >= 0)."""
        _merge_rows(in_w, 0, in_w, in_off, hot, snap_in, add)
        if out_off >= 0:
            _merge_rows(out_w, 0, out_w, out_off, hot, snap_out, add)

    @njit(cache=True, nogil=True)
    def remap_hot(inputs, n_in, targets, negs, e, hot, in_off, out_off):  # pragma: no cover - compiled
        """Point a piece's examples at the thread's private rows: an input row below ``hot`` moves to ``in_off +``
        its id, and with ``out_off >= 0`` (negative sampling only: a Huffman path is looked up by its target) so do
        the targets and negatives. One word keeps one id within the thread, so every equality the kernel tests
        (a negative equal to its target, a repeated context) holds as before."""
        for m in range(n_in):
            if inputs[m] < hot:
                inputs[m] += in_off
        if out_off < 0:
            return
        for x in range(e):
            if targets[x] < hot:
                targets[x] += out_off
            for k in range(negs.shape[1]):
                if negs[x, k] < hot:
                    negs[x, k] += out_off

    @njit(cache=True, nogil=True, inline="always")
    def _run_end(inputs, targets, negs, x, e, most):  # pragma: no cover - compiled
        """The end of the run of pairs from ``x``: the same center (target) and negatives (``negs``' rows; none
        with hierarchical softmax), at most ``most`` pairs, cut before a context that repeats one in the run (that
        pair must read the row the earlier pair updated)."""
        y = x + 1
        while y < e and y - x < most and targets[y] == targets[x]:
            for k in range(negs.shape[1]):
                if negs[y, k] != negs[x, k]:  # the same word as the last center, with its own draw
                    return y
            for z in range(x, y):
                if inputs[z] == inputs[y]:
                    return y
            y += 1
        return y

    @njit(cache=True, nogil=True, inline="always")
    def _run_rows(targets, negs, x, rows):  # pragma: no cover - compiled
        """The output rows of the run from ``x`` with negative sampling: its target, then its negatives other than
        the target (skipped, as per pair). Returns how many."""
        t = targets[x]
        rows[0] = t
        n = 1
        for k in range(negs.shape[1]):
            if negs[x, k] != t:
                rows[n] = negs[x, k]
                n += 1
        return n

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def train_window_runs(
        in_w, out_w, hs_w, top_w, inputs, targets, negs, points, codes, lengths, e, most, lr, H, E, G, rows, labels, rule
    ):  # pragma: no cover - compiled
        """Skip-gram pairs ``0:e`` (one input row each) in runs of one center's pairs, each run one batched step
        (:func:`batched_window_update`) with the next run's rows prefetched; returns the loss. Pure hierarchical
        softmax: the run walks the center's path. Negative sampling (``shared_negatives``: every
        pair of a center draws the same negatives): its output rows are the target and those negatives.
        Runs follow each other as sequential steps do: each reads the rows the runs before it wrote.
        ``rows``, ``labels``: (>= K+1,) scratch; ``labels`` holds 0 then 1s (the codes of a target and negatives).
        ``rule``: :func:`w2v.engines.numba_engine.sigma_rule`'s bits; a path's saturated nodes never get an update."""
        use_ns = out_w.shape[0] > 0
        lr32 = np.float32(lr)
        loss = 0.0
        x, y = 0, _run_end(inputs, targets, negs, 0, e, most) if e > 0 else 0
        while x < e:
            z = _run_end(inputs, targets, negs, y, e, most) if y < e else y
            if y < e:
                if use_ns:  # the next run's contexts, negatives and target
                    prefetch_window(in_w, out_w, inputs, y, z, negs[y], 0, negs.shape[1])
                    prefetch_window(in_w, out_w, inputs, y, y, targets, y, y + 1)
                else:
                    t = targets[y]
                    prefetch_window(in_w, hs_w, inputs, y, z, points[t], _HS_CACHED_DEPTH, lengths[t])
            t = targets[x]
            if use_ns:
                n = _run_rows(targets, negs, x, rows)
                part, logs = batched_window_update(in_w, out_w, top_w[:0], inputs, x, y, rows, labels, n, lr32, H, E, G, rule)
            else:
                part, logs = batched_window_update(
                    in_w, hs_w, top_w, inputs, x, y, points[t], codes[t], lengths[t], lr32, H, E, G, rule | RULE_SKIP
                )
            loss += part + logs
            x, y = y, z
        return loss

    @njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def _train_block(
        ids,
        lo,
        hi,
        seed,
        lr_lo,
        lr_hi,
        remap,
        keep_prob,
        in_w,
        out_w,
        hs_w,
        points,
        codes,
        lengths,
        prob,
        alias,
        bag_inputs,
        bag_offsets,
        max_bag,
        window,
        shrink,
        negatives,
        cbow,
        bag_mean,
        share,
        top_n,
        batched,
        rule,
        hot,
        in_off,
        out_off,
        snap_in,
        snap_out,
    ):  # pragma: no cover - compiled
        """One block ``ids[lo:hi]``, sentence by sentence, as word2vec.c's thread reads its part of the file.

        Each sentence's kept words go to ``sen``; its centers are then trained _PIECE at a time: their
        examples and negatives are made in scratch buffers that stay in cache, and
        :func:`train_examples` walks them with the rows of the examples ahead prefetched.

        ``hot`` > 0 (``private_rows``): the ``hot`` most frequent words' input rows (and output rows when ``out_off``
        >= 0) are trained in the thread's private copy at rows ``in_off`` (``out_off``) on, started from the shared
        rows here and merged into them every ``_HOT_MERGE * hot`` examples and at the block's end, so they hold
        nothing between blocks. ``snap_in``/``snap_out``: the thread's (hot, dim) scratch.
        """
        dim = in_w.shape[1]
        span = max(1, hi - lo)
        per_center = 1 if cbow else 2 * window
        sen = np.empty(hi - lo, dtype=np.int64)
        radius = np.empty(_PIECE, dtype=np.int64)
        inputs = np.empty(_PIECE * 2 * window * max_bag, dtype=np.int64)
        offsets = np.empty(_PIECE * per_center + 1, dtype=np.int64)
        targets = np.empty(_PIECE * per_center, dtype=np.int64)
        negs = np.empty((_PIECE * per_center, negatives), dtype=np.int64)
        csr = cbow or bag_offsets.shape[0] > 0  # plain skip-gram: one input row per example, no offsets
        h = np.empty(dim, dtype=np.float32)
        neu1e = np.empty(dim, dtype=np.float32)
        # The tree's top rows in a private copy (merge_top_nodes), merged once the thread has walked 4 paths per
        # private row since the last merge: a node at depth d is on about one walk in 2^d, so the top P rows are each
        # walked several times between merges, and each merge costs about a quarter of a row per walk.
        H = np.empty((2 * window, dim), dtype=np.float32)  # batch_windows' scratch (train_window_runs)
        E = np.empty((2 * window, dim), dtype=np.float32)
        # A run's scores (up to 2 * window pairs by the widest path or K + 1 rows), then as many repeated codes.
        G = np.empty(2 * 2 * window * max(1, points.shape[1], negatives + 1), dtype=np.float32)
        rows = np.empty(negatives + 1, dtype=np.int64)
        labels = np.ones(negatives + 1, dtype=np.float32)  # as Huffman codes: label = 1 - code, the target's 1
        labels[0] = 0.0
        top_w = hs_w[hs_w.shape[0] - min(top_n, hs_w.shape[0]) :].copy()
        snap = top_w.copy()
        state = np.uint64(seed)
        loss, examples, unmerged = 0.0, 0, 0  # unmerged: path walks since the last merge of the private rows
        if hot > 0:
            _private_both(in_w, out_w, in_off, out_off, hot, snap_in, snap_out, False)
        unmerged_hot = 0
        pos = lo
        while pos < hi:
            n, pos, state = read_sentence(ids, pos, hi, remap, keep_prob, state, sen)
            lr = lr_lo + (lr_hi - lr_lo) * ((pos - lo) / span)  # linear decay inside the block too
            for c0 in range(0, n if n > 1 else 0, _PIECE):
                c1 = min(n, c0 + _PIECE)
                for i in range(c1 - c0):  # effective window uniform in 1..window
                    radius[i] = window
                    if shrink:
                        state += _GOLDEN
                        radius[i] = 1 + np.int64((_mix(state) >> _S40) % np.uint64(window))
                e, state = piece_examples(
                    sen, n, c0, c1, radius, bag_inputs, bag_offsets, prob, alias, negatives, cbow, share, state,
                    inputs, offsets, targets, negs,
                )  # fmt: skip
                if hot > 0:
                    remap_hot(inputs, offsets[e] if csr else e, targets, negs, e, hot, in_off, out_off)
                if batched:
                    loss += train_window_runs(
                        in_w, out_w, hs_w, top_w, inputs, targets, negs, points, codes, lengths, e, 2 * window, lr, H, E, G, rows, labels,
                        rule,
                    )  # fmt: skip
                else:
                    loss += train_examples(
                        in_w, out_w, hs_w, inputs, offsets[: e + 1] if csr else offsets[:0], targets, negs, points, codes, lengths,
                        bag_mean, lr, 0, e, h, neu1e, top_w, rule,
                    )  # fmt: skip
                examples += e
                unmerged += e
                if top_w.shape[0] and unmerged >= 4 * top_w.shape[0]:
                    merge_top_nodes(hs_w, top_w, snap)
                    unmerged = 0
                unmerged_hot += e
                if hot > 0 and unmerged_hot >= _HOT_MERGE * hot:
                    _private_both(in_w, out_w, in_off, out_off, hot, snap_in, snap_out, True)
                    unmerged_hot = 0
        if top_w.shape[0]:
            merge_top_nodes(hs_w, top_w, snap)
        if hot > 0:
            _private_both(in_w, out_w, in_off, out_off, hot, snap_in, snap_out, True)
        return loss, examples

    @njit(parallel=True, fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
    def _train_blocks(
        ids,
        block_lo,
        block_hi,
        seeds,
        lr_lo,
        lr_hi,
        remap,
        keep_prob,
        in_w,
        out_w,
        hs_w,
        points,
        codes,
        lengths,
        prob,
        alias,
        bag_inputs,
        bag_offsets,
        max_bag,
        window,
        shrink,
        negatives,
        cbow,
        bag_mean,
        share,
        top_n,
        batched,
        rule,
        hot,
        in_base,
        out_base,
        snaps_in,
        snaps_out,
        losses,
        examples,
    ):  # pragma: no cover - compiled
        """The chunk's blocks shared out over the threads (Hogwild): each block trains start to end on one thread.

        ``hot`` > 0: thread ``t`` trains the ``hot`` most frequent words' rows at ``in_base + t * hot`` (and
        ``out_base + t * hot``; ``out_base`` < 0: output rows stay shared) with scratch ``snaps_in[t]``
        (``snaps_out[t]``); the tables hold those rows after their ``base`` rows (:func:`merge_private_rows`)."""
        for b in prange(block_lo.shape[0]):
            t = get_thread_id()
            p = hot if t < snaps_in.shape[0] else 0  # a thread without its rows trains the shared ones
            tt = t if p > 0 else 0
            out_off = out_base + tt * hot if out_base >= 0 else -1
            losses[b], examples[b] = _train_block(
                ids, block_lo[b], block_hi[b], seeds[b], lr_lo[b], lr_hi[b], remap, keep_prob, in_w, out_w, hs_w,
                points, codes, lengths, prob, alias, bag_inputs, bag_offsets, max_bag, window, shrink, negatives, cbow,
                bag_mean, share, top_n, batched, rule, p, in_base + tt * hot, out_off,
                snaps_in[tt], snaps_out[tt],
            )  # fmt: skip


_EMPTY_I64 = np.zeros(0, dtype=np.int64)


def _with_spare_rows(param: torch.nn.Parameter, spare: int) -> np.ndarray:
    """Move a table into a buffer with ``spare`` zero rows after its own and return the buffer (as numpy); the
    parameter becomes the buffer's first rows, a contiguous view, so everything else sees the same table."""
    w = param.data
    buffer = torch.zeros(w.shape[0] + spare, w.shape[1], dtype=w.dtype)
    buffer[: w.shape[0]] = w
    param.data = buffer[: w.shape[0]]
    return buffer.numpy()


def block_lrs(words: np.ndarray, lr: float, lr_end: float) -> tuple[np.ndarray, np.ndarray]:
    """Each block's learning rate at its first and last word, decaying linearly from ``lr`` to ``lr_end``
    over the chunk's words (``words``: in-vocabulary words per block)."""
    cum = np.concatenate([[0], np.cumsum(words, dtype=np.float64)])
    frac = cum / max(1.0, float(cum[-1]))
    return lr + (lr_end - lr) * frac[:-1], lr + (lr_end - lr) * frac[1:]


class HogwildEngine(Engine):
    """word2vec.c's threads: each trains whole blocks of the id file, from the raw ids to the updates (CPU)."""

    name = "hogwild"
    default_batch = 0  # unused: the engine takes span chunks of `chunk_tokens` ids, not example batches
    shuffle = False
    overlaps_stream = False  # there is nothing to overlap: the threads read the corpus themselves
    consumes_tokens = True
    reads_spans = True  # the stream hands out views of the id file, not vocabulary ids

    @classmethod
    def unavailable(cls, cfg: Any, device: torch.device) -> str | None:
        reason = cpu_kernel_unavailable(cls.name, cfg, device)
        if reason:
            return reason
        if cfg.engine == "auto" and "WORLD_SIZE" in os.environ:
            # torchrun merges replicas every dist.sync_blocks blocks, and dist.merge's rules were measured with
            # the example engine's block rounds; this engine's rounds are whole chunks. Named, it runs there too.
            return "under torchrun engine=auto keeps the numba engine's block rounds: pass engine=hogwild to train in chunk rounds"
        return None

    def __init__(self, model: Word2VecModel, cfg: Any, device: torch.device, threads: int):
        super().__init__(model, cfg, device, threads)
        set_threads(threads)  # the kernel owns the cores; torch's small ops stay on one thread (see the numba engine)
        torch.set_num_threads(1)
        self.spec, self.tables = model.spec, model.tables()
        bags = model.bags
        self.bag_inputs = bags.inputs.numpy() if bags is not None else _EMPTY_I64
        self.bag_offsets = bags.offsets.numpy() if bags is not None else _EMPTY_I64
        self.max_bag = int((bags.offsets[1:] - bags.offsets[:-1]).max()) if bags is not None else 1
        # One thread shares its rows with nobody: a private copy would only cost the merges.
        self.top_nodes = int(cfg.hs_private_nodes) if threads > 1 else 0
        # One batched step per skip-gram window whose pairs share their output rows; config.validate (run by train())
        # admits it only for those models: skip-gram without subwords, with pure HS or with shared negatives.
        # Null (auto) turns each lever on where it was measured inside the quality targets (window_levers).
        self.shared_negatives, self.batch_windows = window_levers(cfg)
        self._private_rows(model, cfg, threads)

    def _private_rows(self, model: Word2VecModel, cfg: Any, threads: int) -> None:
        """``private_rows``: with two or more threads, give each thread a private copy of the most frequent words'
        rows, after the shared ones in the same buffer (:func:`merge_private_rows`). The input table always (word
        models: fastText's bags are rows of n-grams), the output table with negative sampling alone."""
        t = self.tables
        n_threads = numba.get_num_threads() if HAVE_NUMBA else 1
        self.hot = min(int(cfg.get("private_rows", 0)), len(t.out_w) or len(t.in_w)) if threads > 1 and model.bags is None else 0
        # Output rows only with negative sampling alone: a Huffman path is looked up by the target's own id.
        self.in_base, self.out_base = len(t.in_w), (len(t.out_w) if len(t.out_w) and not len(t.hs_w) else -1)
        self.in_ext, self.out_ext = t.in_w.numpy(), t.out_w.numpy()
        if self.hot and n_threads > 1:
            spare = n_threads * self.hot
            self.in_ext = _with_spare_rows(model.in_embed.weight, spare)
            if self.out_base >= 0:
                self.out_ext = _with_spare_rows(model.out_embed.weight, spare)
            self.tables = model.tables()  # the same tables: views of the buffers' first rows
        else:
            self.hot, self.out_base, n_threads = 0, -1, 1
        dim = t.in_w.shape[1]
        self.snaps_in = np.zeros((n_threads, self.hot, dim), dtype=np.float32)
        self.snaps_out = np.zeros((n_threads, self.hot if self.out_base >= 0 else 0, dim), dtype=np.float32)

    def resolved(self) -> dict[str, Any]:
        """The window levers this run trains with, null (auto) resolved: for the start log and metrics.json."""
        return {"shared_negatives": self.shared_negatives, "batch_windows": self.batch_windows}

    def chunk_blocks(self) -> int:
        """At least 16 blocks a thread, so the threads finish a chunk close together."""
        return max(super().chunk_blocks(), 16 * self.threads)

    def attach(self, stream: Word2VecStream) -> None:
        self.remap = np.ascontiguousarray(stream.remap_np, dtype=np.int32)
        self.keep_prob = stream.keep_prob.numpy().astype(np.float32)
        self.prob = stream.sampler.prob.numpy().astype(np.float32)
        self.alias = stream.sampler.alias.numpy().astype(np.int64)
        # Setup, not training: the compiled kernel's first call loads it from numba's cache and starts the
        # thread pool (about 0.5 s on wiki8). Done here, it neither stalls the first chunk nor counts in the
        # training time, as gensim's compiled module is imported before its train() too. (The stream counts
        # its blocks' words when it is built, for the same reason.)
        none, ids = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        ids.flags.writeable = False  # typed like the id file's read-only view, so the first chunk finds this compile
        self._train(ids, none, none, none.astype(np.uint64), none.astype(np.float64),
                    none.astype(np.float64), none.astype(np.float64), none)  # fmt: skip

    def step(self, span: SpanChunk, lr: float, lr_end: float) -> torch.Tensor:
        """Train one span chunk, the rate decaying from ``lr`` to ``lr_end``; returns (summed loss, examples) as a float64 (2,) tensor."""
        cfg, blocks = self.cfg, span.blocks
        if not len(blocks):
            return torch.zeros(2, dtype=torch.float64)
        seeds = np.array([block_seed(cfg.seed, int(span.epoch), int(b)) for b in blocks], dtype=np.uint64)
        lr_lo, lr_hi = block_lrs(span.block_words, lr, lr_end)
        losses = np.zeros(len(blocks), dtype=np.float64)
        examples = np.zeros(len(blocks), dtype=np.int64)
        self._train(span.ids, span.lo, span.hi, seeds, lr_lo, lr_hi, losses, examples)
        return torch.tensor([losses.sum(), float(examples.sum())], dtype=torch.float64)

    def _train(self, ids, lo, hi, seeds, lr_lo, lr_hi, losses, examples) -> None:  # noqa: ANN001 - the kernel's arrays
        """The compiled call over blocks ``ids[lo[b]:hi[b]]``: each block's loss and examples into ``losses``/``examples``."""
        cfg, t = self.cfg, self.tables
        _train_blocks(
            ids, lo, hi, seeds, lr_lo, lr_hi, self.remap, self.keep_prob,
            self.in_ext, self.out_ext, t.hs_w.numpy(), t.points.numpy(), t.codes.numpy(), t.lengths.numpy(),
            self.prob, self.alias, self.bag_inputs, self.bag_offsets, self.max_bag, cfg.window, bool(cfg.shrink_windows),
            cfg.negatives, not self.spec.sg, self.spec.bag_mean, cfg.window if self.shared_negatives else 0,
            self.top_nodes, self.batch_windows, sigma_rule(bool(cfg.ns_skip_saturated), bool(cfg.sigma_table)),
            self.hot, self.in_base, self.out_base, self.snaps_in, self.snaps_out, losses, examples,
        )  # fmt: skip


register(HogwildEngine, auto_rank=0)  # engine=auto's first choice on CPU: docs/benchmarks.md
