"""Quality against concurrency: how many Hogwild updates may be in flight before the vectors suffer.

    python bench/concurrency.py                           # wiki8 prefix of 4M words, G = 1 ... 65536
    python bench/concurrency.py --tokens 2000000 --grids 1,1024,16384

The Triton engine runs ``G`` programs at once, each walking its own span of the chunk. A GPU cannot
be emulated exactly, but its worst case can: here the ``G`` programs advance in lockstep, one pair
each per tick, and every update of a tick is computed from the tables as they were before the tick
(all ``G`` reads, then all ``G`` writes, colliding writes summed). That is the batched torch step
with one pair from each of ``G`` distant positions, so staleness is exactly ``G`` updates; on the
GPU programs drift apart and most updates see fresher rows. ``G = 1`` is word2vec.c's sequential
order. The same chunk preparation (:func:`w2v.engines.chunks.prepare_chunk`), span split and
learning-rate decay as the kernel; a numba loop, one thread. Prints one table: loss, WS353, analogy;
the rows also go to ``--json`` (default ``bench/results/concurrency.json``).
"""

from __future__ import annotations

import argparse
import gzip
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from common import WIKI8, add_json_argument, settings_of, write_results
from numba import njit

from w2v.data.sampler import build_alias_table
from w2v.engines.chunks import prepare_chunk


@njit(cache=True, fastmath=True)
def lockstep_sgns(tokens, starts, ends, radius, n, in_w, out_w, prob, alias, negatives, lr0, lr1, grid, seed):  # pragma: no cover
    """G programs in lockstep: per tick, every program's next pair is computed from the pre-tick tables."""
    np.random.seed(seed)
    dim, n_words = in_w.shape[1], prob.shape[0]
    span = (n + grid - 1) // grid
    pos = np.empty(grid, np.int64)  # current center position of each program
    ctx = np.empty(grid, np.int64)  # next context position
    for g in range(grid):
        pos[g], ctx[g] = g * span, -1
    rows = np.empty((grid, negatives + 1), np.int64)
    labels = np.empty((grid, negatives + 1), np.float32)
    grads = np.empty((grid, negatives + 1), np.float32)
    hidden = np.empty(grid, np.int64)
    active = np.empty(grid, np.bool_)
    neu1e = np.empty((grid, dim), np.float32)
    loss, pairs = 0.0, 0
    while True:
        # Read phase: each program finds its next pair and computes its gradients from the current tables.
        any_active = False
        for g in range(grid):
            active[g] = False
            lo, hi = g * span, min(g * span + span, n)
            while pos[g] < hi:
                i = pos[g]
                if tokens[i] >= 0:
                    first = max(i - radius[i], starts[i])
                    stop = min(i + radius[i] + 1, ends[i])
                    j = first if ctx[g] < 0 else ctx[g]
                    if j == i:
                        j += 1
                    if j < stop:
                        ctx[g] = j + 1
                        active[g] = True
                        break
                pos[g] += 1
                ctx[g] = -1
            if not active[g]:
                continue
            any_active = True
            i, j = pos[g], ctx[g] - 1
            center, context = tokens[i], tokens[j]
            alpha = lr0 + (lr1 - lr0) * (i - lo) / max(hi - lo, 1)
            hidden[g] = context
            rows[g, 0], labels[g, 0] = center, 1.0
            for k in range(negatives):
                b = np.random.randint(n_words)
                neg = b if np.random.random() < prob[b] else alias[b]
                rows[g, k + 1], labels[g, k + 1] = neg, 0.0 if neg != center else -1.0  # -1: skipped
            for k in range(negatives + 1):
                if labels[g, k] < 0:
                    grads[g, k] = 0.0
                    continue
                f = np.float32(0.0)
                for d in range(dim):
                    f += in_w[context, d] * out_w[rows[g, k], d]
                s = -f if labels[g, k] > 0.5 else f
                loss += max(s, 0.0) + math.log1p(math.exp(-abs(s)))
                grads[g, k] = (labels[g, k] - 1.0 / (1.0 + math.exp(-f))) * alpha
            pairs += 1
        if not any_active:
            break
        # Write phase: neu1e from the pre-tick output rows, then all output rows, then all input rows.
        for g in range(grid):
            if active[g]:
                neu1e[g, :] = 0.0
                for k in range(negatives + 1):
                    for d in range(dim):
                        neu1e[g, d] += grads[g, k] * out_w[rows[g, k], d]
        for g in range(grid):
            if active[g]:
                for k in range(negatives + 1):
                    for d in range(dim):
                        out_w[rows[g, k], d] += grads[g, k] * in_w[hidden[g], d]
        for g in range(grid):
            if active[g]:
                for d in range(dim):
                    in_w[hidden[g], d] += neu1e[g, d]
    return loss, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=WIKI8)
    parser.add_argument("--tokens", type=int, default=4_000_000)
    parser.add_argument("--grids", default="1,256,1024,4096,16384,65536")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--window", type=int, default=5)
    add_json_argument(parser, "concurrency")
    args = parser.parse_args()
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.ERROR)
    with gzip.open(args.corpus, "rt") as f:
        words = f.read(args.tokens * 9).split()[: args.tokens]
    vocab, ids = np.unique(np.array(words), return_inverse=True)
    counts = np.bincount(ids)
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= 5]
    remap = np.full(len(vocab), -1, np.int64)
    remap[order] = np.arange(len(order))
    ids = remap[ids]
    ids = ids[ids >= 0]
    vocab, counts = vocab[order], counts[order]
    t = 1e-3 * counts.sum()
    keep = torch.from_numpy(np.minimum(1.0, (np.sqrt(counts / t) + 1) * t / counts).astype(np.float32))
    prob, alias = build_alias_table(counts.astype(np.float64) ** 0.75)
    # Sentences of 10,000 words, as gensim cuts text8.
    tokens = np.insert(ids, np.arange(10_000, len(ids), 10_000), -1).astype(np.int32)
    print(f"{len(ids)} words, vocabulary {len(vocab)}; one epoch per G, lr 0.025 -> 0.0001", flush=True)
    print("| G (updates in flight) | pairs | mean loss | WS353 | analogy@30k | seconds |")
    print("|---|---|---|---|---|---|")
    rows = []
    for grid in (int(g) for g in args.grids.split(",")):
        chunk = prepare_chunk(torch.from_numpy(tokens), keep, args.window, True, torch.Generator().manual_seed(1))
        rng = torch.Generator().manual_seed(1)
        in_w = ((torch.rand(len(vocab), args.dim, generator=rng) - 0.5) / args.dim).numpy()
        out_w = np.zeros((len(vocab), args.dim), np.float32)
        t0 = time.perf_counter()
        loss, pairs = lockstep_sgns(
            chunk.tokens.numpy().astype(np.int64), chunk.starts.numpy().astype(np.int64), chunk.ends.numpy().astype(np.int64),
            chunk.radius.numpy().astype(np.int64), int(chunk.n), in_w, out_w, prob.numpy(), alias.numpy(), args.negatives,
            0.025, 0.0001, grid, 1,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        kv = KeyedVectors(args.dim)
        kv.add_vectors(list(vocab), in_w)
        ws = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1].statistic
        analogy = kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)[0]
        print(f"| {grid} | {pairs} | {loss / max(pairs, 1):.4f} | {ws:.4f} | {analogy:.4f} | {seconds:.0f} |", flush=True)
        rows.append(
            {"grid": grid, "pairs": pairs, "mean_loss": loss / max(pairs, 1), "ws353": ws, "analogy@30k": analogy, "seconds": seconds}
        )
    write_results(args.json, settings_of(args), rows, words=len(ids), vocab=len(vocab))


if __name__ == "__main__":
    main()
