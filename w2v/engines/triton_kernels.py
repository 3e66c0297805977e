"""The fused word2vec negative-sampling kernel in Triton: Hogwild on the GPU, one launch per chunk.

The batched torch update sums a whole batch of gradients at once, so its staleness grows with the
batch and it diverges from about 16k pairs at lr 0.025. Here a persistent grid of ``G`` programs
walks the chunk instead, each its own contiguous span of positions in word2vec.c's order (center by
center, context by context, the positive target then the negatives), updating the two torch tables
in place like word2vec.c's threads (cusim, FULL-W2V and accSGNS do the same in CUDA). Staleness is
then bounded by the ``G`` updates in flight, not by the launch: one launch covers millions of words.

Roles are word2vec.c's and gensim's: the *context* word's input row is the hidden vector ``h``, the
*center* word is the positive target in the output table, and a negative equal to the center is
skipped. Per pair, with ``g = (y - σ(u·h))·lr``: ``neu1e += g·u`` and ``u += g·h`` for each output
row ``u`` in turn, then ``h += neu1e`` (the update of ``w2v.engines.numba_engine`` for skip-gram).
CBOW has the same structure with one example per center: ``h`` is the mean (or sum) of the window's
context rows, and each of them gets ``neu1e`` (÷ count for a sum), as in gensim.

Memory ordering. Triton does not promise that a load sees an earlier store of the same program when
the two are laid out over different threads (triton-lang/triton #10924, #9887). Within a pair the
rows of one table can repeat (two equal negatives; the next pair's context row is often this pair's),
so every store of a row is followed by ``tl.debug_barrier()`` (``bar.sync``: the CTA's global
writes become visible to all its threads) before the next row is loaded. Programs use one or two
warps, which keeps each barrier cheap. Across programs there is no ordering at all: that is Hogwild.

Randomness. Negatives are drawn in the kernel from the noise distribution's alias table with
Philox (``tl.randint4x``), keyed by the chunk's seed and by (position, window offset, k), so a chunk
trains on the same negatives whatever ``G`` is and a resumed run draws what the first run drew.
Subsampling and the reduced windows are drawn by torch before the launch (:mod:`w2v.engines.chunks`).

Under ``TRITON_INTERPRET=1`` the kernels run on CPU tensors, one program after the other, which is
how the tests check them against a sequential reference. Set the variable before this module is
imported: ``triton.jit`` reads it when the kernels are defined.
"""

from __future__ import annotations

import torch

from w2v.models.word2vec import MAX_EXP

try:
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except ImportError:  # pragma: no cover - exercised on machines without triton
    HAVE_TRITON = False


def available() -> bool:
    """True when triton can be imported."""
    return HAVE_TRITON


if HAVE_TRITON:
    # A jit function reads a module global only as a constexpr: gensim's cap on |u·h| for ns_skip_saturated.
    _MAX_EXP = tl.constexpr(MAX_EXP)

    @triton.jit
    def _draw_negative(prob, alias, n_words, seed, offset):
        """One draw from the alias table (Walker): a uniform bucket, kept with prob[bucket], else its alias."""
        r0, r1, _, _ = tl.randint4x(seed, offset)
        bucket = (r0 >> 1).to(tl.int32) % n_words
        u = (r1 >> 8).to(tl.float32) * (1.0 / 16777216.0)  # 24 random bits: exact in float32, in [0, 1)
        keep = u < tl.load(prob + bucket)
        return tl.where(keep, bucket, tl.load(alias + bucket).to(tl.int32))

    @triton.jit
    def _alias_draw_kernel(offsets_ptr, out_ptr, n, prob, alias, n_words, seed, BLOCK: tl.constexpr):
        """out[i] = the negative the kernel draws at Philox offset offsets[i] (tests, benchmarks)."""
        idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = idx < n
        offset = tl.load(offsets_ptr + idx, mask=mask, other=0)
        tl.store(out_ptr + idx, _draw_negative(prob, alias, n_words, seed, offset), mask=mask)

    @triton.jit
    def _logistic_row(w, row, h, neu1e, label, alpha, d, dmask, DIM: tl.constexpr, SKIP_SATURATED: tl.constexpr):
        """One output row: g = (label - σ(u·h))·alpha; neu1e += g·u; u += g·h. Returns (neu1e, loss).
        ``SKIP_SATURATED``: gensim's rule, g = 0 when |u·h| >= 6 (``ns_skip_saturated``)."""
        offset = row.to(tl.int64) * DIM + d  # int64: a 10M x 300 table has more than 2**31 floats
        u = tl.load(w + offset, mask=dmask, other=0.0)
        f = tl.sum(u * h, axis=0)
        s = f * (1.0 - 2.0 * label)  # -f for the target, f for a negative: loss = softplus(s) = -log σ(∓f), without overflow
        loss = tl.maximum(s, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(s)))
        g = (label - tl.sigmoid(f)) * alpha
        if SKIP_SATURATED:
            g = tl.where(tl.abs(f) < _MAX_EXP, g, 0.0)
        neu1e += g * u
        tl.store(w + offset, u + g * h, mask=dmask)
        tl.debug_barrier()  # the next row may be this one: make the store visible to every thread first
        return neu1e, loss

    @triton.jit
    def _output_rows(
        out_w, center, h, neu1e, alpha, prob, alias, n_words, seed, base, d, dmask, DIM: tl.constexpr, NEGATIVES: tl.constexpr,
        SKIP_SATURATED: tl.constexpr,
    ):  # fmt: skip
        """The positive target, then NEGATIVES draws (a draw equal to the target is skipped). Returns (neu1e, loss)."""
        neu1e, loss = _logistic_row(out_w, center, h, neu1e, 1.0, alpha, d, dmask, DIM, SKIP_SATURATED)
        for k in range(NEGATIVES):
            negative = _draw_negative(prob, alias, n_words, seed, base + k)
            if negative != center:  # word2vec.c skips a negative equal to the target
                neu1e, row_loss = _logistic_row(out_w, negative, h, neu1e, 0.0, alpha, d, dmask, DIM, SKIP_SATURATED)
                loss += row_loss
        return neu1e, loss

    @triton.jit
    def _word2vec_chunk_kernel(
        tokens, starts, ends, radius, n_ptr,  # the prepared chunk (see w2v.engines.chunks)
        in_w, out_w, prob, alias, n_words,  # tables and the noise distribution's alias table
        seed, lr0, lr1, loss_out, examples_out,
        DIM: tl.constexpr, BLOCK_D: tl.constexpr, NEGATIVES: tl.constexpr, WINDOW: tl.constexpr,
        CBOW: tl.constexpr, CBOW_MEAN: tl.constexpr, SKIP_SATURATED: tl.constexpr,
    ):  # fmt: skip
        """Program ``pid`` trains positions [pid·span, (pid+1)·span) of the chunk, example by example, in place.

        Skip-gram: one example per (center, context) pair, h = the context's input row. CBOW: one
        example per center, h = the mean (or sum) of its context rows, and every context row then
        gets neu1e (÷ count for a sum), as gensim and the numba kernel do.
        """
        pid = tl.program_id(0)
        n = tl.load(n_ptr)
        span = (n + tl.num_programs(0) - 1) // tl.num_programs(0)
        lo = pid * span
        hi = tl.minimum(lo + span, n)
        d = tl.arange(0, BLOCK_D)
        dmask = d < DIM
        loss = 0.0
        examples = 0
        for i in range(lo, hi):
            center = tl.load(tokens + i)
            if center >= 0:  # -1: a sentence separator
                # Every program decays its rate over its own span, so all programs share a rate at
                # any moment, as word2vec.c's threads share one from the global word count.
                alpha = lr0 + (lr1 - lr0) * ((i - lo).to(tl.float32) / tl.maximum(hi - lo, 1).to(tl.float32))
                r = tl.load(radius + i)
                first = tl.maximum(i - r, tl.load(starts + i))
                stop = tl.minimum(i + r + 1, tl.load(ends + i))
                # Philox counter of an example's k-th negative: base + k, unique per (position, offset, k).
                row_base = (tl.zeros((), tl.int64) + i) * (2 * WINDOW + 1)
                if CBOW:
                    h = tl.zeros((BLOCK_D,), dtype=tl.float32)
                    count = 0
                    for j in range(first, stop):
                        if j != i:
                            context = tl.load(tokens + j)
                            h += tl.load(in_w + context.to(tl.int64) * DIM + d, mask=dmask, other=0.0)
                            count += 1
                    if count > 0:
                        if CBOW_MEAN:
                            h = h / count
                        neu1e = tl.zeros((BLOCK_D,), dtype=tl.float32)
                        neu1e, ex_loss = _output_rows(
                            out_w, center, h, neu1e, alpha, prob, alias, n_words, seed, (row_base + WINDOW) * NEGATIVES, d, dmask,
                            DIM, NEGATIVES, SKIP_SATURATED,
                        )  # fmt: skip
                        loss += ex_loss
                        if not CBOW_MEAN:
                            neu1e = neu1e / count
                        for j in range(first, stop):
                            if j != i:
                                in_offset = tl.load(tokens + j).to(tl.int64) * DIM + d
                                row = tl.load(in_w + in_offset, mask=dmask, other=0.0)
                                tl.store(in_w + in_offset, row + neu1e, mask=dmask)
                                tl.debug_barrier()  # a word can occur twice in one window
                        examples += 1
                else:
                    for j in range(first, stop):
                        if j != i:
                            in_offset = tl.load(tokens + j).to(tl.int64) * DIM + d  # int64: tables can pass 2**31 floats
                            h = tl.load(in_w + in_offset, mask=dmask, other=0.0)
                            neu1e = tl.zeros((BLOCK_D,), dtype=tl.float32)
                            neu1e, ex_loss = _output_rows(
                                out_w, center, h, neu1e, alpha, prob, alias, n_words, seed, (row_base + (j - i + WINDOW)) * NEGATIVES,
                                d, dmask, DIM, NEGATIVES, SKIP_SATURATED,
                            )  # fmt: skip
                            loss += ex_loss
                            tl.store(in_w + in_offset, h + neu1e, mask=dmask)
                            tl.debug_barrier()
                            examples += 1
        tl.store(loss_out + pid, loss)
        tl.store(examples_out + pid, examples)


def _block_d(dim: int) -> int:
    return max(16, 1 << (dim - 1).bit_length())


def word2vec_chunk(
    tokens: torch.Tensor,
    starts: torch.Tensor,
    ends: torch.Tensor,
    radius: torch.Tensor,
    n: torch.Tensor,
    in_w: torch.Tensor,
    out_w: torch.Tensor,
    prob: torch.Tensor,
    alias: torch.Tensor,
    seed: int,
    lr0: float,
    lr1: float,
    window: int,
    negatives: int,
    grid: int,
    cbow: bool = False,
    cbow_mean: bool = True,
    ns_skip_saturated: bool = False,
) -> torch.Tensor:
    """Train one prepared chunk in place with ``grid`` programs; return (summed loss, examples) on the device.

    Examples are skip-gram pairs, or CBOW windows with ``cbow``. ``ns_skip_saturated``: no update from an output
    row with |u·h| >= 6 (gensim's rule).

    tokens/starts/ends/radius: int32 (N,) from :func:`w2v.engines.chunks.prepare_chunk`; ``n`` a
    one-element int32 tensor with the number of valid positions (it stays on the device: no sync).
    in_w/out_w: contiguous float32 (V, D) tables, updated in place. prob/alias: the alias table.
    ``seed`` < 2**31 keys the Philox draws. The rate decays linearly from ``lr0`` to ``lr1``.
    """
    dim = in_w.shape[1]
    block_d = _block_d(dim)
    loss_out = torch.zeros(grid, dtype=torch.float32, device=in_w.device)
    examples_out = torch.zeros(grid, dtype=torch.int32, device=in_w.device)
    _word2vec_chunk_kernel[(grid,)](
        tokens, starts, ends, radius, n, in_w, out_w, prob, alias, len(prob), seed, float(lr0), float(lr1), loss_out, examples_out,
        DIM=dim, BLOCK_D=block_d, NEGATIVES=negatives, WINDOW=window, CBOW=bool(cbow), CBOW_MEAN=bool(cbow_mean),
        SKIP_SATURATED=bool(ns_skip_saturated), num_warps=max(1, min(4, block_d // 128)),
    )  # fmt: skip
    return torch.stack([loss_out.sum(dtype=torch.float64), examples_out.sum(dtype=torch.float64)])


def draw_negatives(offsets: torch.Tensor, prob: torch.Tensor, alias: torch.Tensor, seed: int) -> torch.Tensor:
    """The negatives :func:`word2vec_chunk` draws at the given Philox offsets (int64), as int32."""
    out = torch.empty(len(offsets), dtype=torch.int32, device=offsets.device)
    block = 1024
    _alias_draw_kernel[(triton.cdiv(len(offsets), block),)](offsets, out, len(offsets), prob, alias, len(prob), seed, BLOCK=block)
    return out


def pair_offset(position: int, context: int, k: int, window: int, negatives: int) -> int:
    """The Philox offset of negative ``k`` of the pair (position, context) (the kernel's formula; a
    CBOW window uses ``context == position``)."""
    return (position * (2 * window + 1) + (context - position + window)) * negatives + k
