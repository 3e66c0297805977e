"""The CPU kernel's three-pass updates against the node-by-node loop they replace, on one thread.

    taskset -c 0 python bench/kernel_passes.py                 # about 10 s
    taskset -c 0 python bench/kernel_passes.py --examples 50000 --vocab 20000

A synthetic Zipf vocabulary (counts ~ 1/rank), its Huffman tree, and center-ordered skip-gram examples
(each center with 5 contexts, drawn with word2vec's subsampling) train two ways from the same tables:

- **node by node**: ``logistic_update`` for each Huffman node (or target and negative) in turn, the
  loop the kernel ran before: each dot product waits behind the previous row's update;
- **three passes**: the kernel's ``train_examples`` (``path_update`` / ``negatives_update``): every
  score, then every σ, then every update.

It prints ns per Huffman node (hierarchical softmax) and per example (negative sampling, 5 negatives),
the best of ``--repeats`` runs each, and the largest difference between the two tables afterwards
(float32 rounding). Results go to ``--json`` (default ``bench/results/kernel_passes.json``).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from common import add_json_argument, settings_of, write_results
from numba import njit

from w2v.engines.numba_engine import _FASTMATH, logistic_update, train_examples
from w2v.models.huffman import build_huffman


@njit(fastmath=_FASTMATH, nogil=True)
def node_by_node(in_w, out_w, hs_w, inputs, targets, negatives, points, codes, lengths, lr, h, neu1e):  # pragma: no cover - compiled
    """Skip-gram examples with every output row updated in turn (the loop before the three passes)."""
    dim = in_w.shape[1]
    loss = 0.0
    for i in range(targets.shape[0]):
        c, t = inputs[i], targets[i]
        for d in range(dim):
            h[d] = in_w[c, d]
            neu1e[d] = 0.0
        linear, product = 0.0, 1.0
        if out_w.shape[0] > 0:
            part, factor = logistic_update(h, neu1e, out_w, t, 1.0, lr, 0)
            linear, product = linear + part, product * factor
            for k in range(negatives.shape[1]):
                if negatives[i, k] != t:
                    part, factor = logistic_update(h, neu1e, out_w, negatives[i, k], 0.0, lr, 0)
                    linear, product = linear + part, product * factor
        if hs_w.shape[0] > 0:
            for j in range(lengths[t]):
                part, factor = logistic_update(h, neu1e, hs_w, points[t, j], 1.0 - codes[t, j], lr, 1)
                linear, product = linear + part, product * factor
        loss += linear + math.log(product)
        for d in range(dim):
            in_w[c, d] = h[d] + neu1e[d]
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=71_000, help="words (wiki8 keeps about 71k at min_count 5)")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=4)
    add_json_argument(parser, "kernel_passes")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    counts = (1e6 / np.arange(1, args.vocab + 1)).astype(np.int64) + 5
    tree = build_huffman(counts)
    p = counts / counts.sum()
    keep = np.minimum(1.0, np.sqrt(1e-3 / p) + 1e-3 / p)  # word2vec's subsampling at sample=1e-3
    q = p * keep / (p * keep).sum()
    targets = np.repeat(rng.choice(args.vocab, size=args.examples // 5, p=q), 5).astype(np.int64)
    inputs = rng.choice(args.vocab, size=len(targets), p=q).astype(np.int64)
    noise = counts**0.75 / (counts**0.75).sum()
    in_w = ((rng.random((args.vocab, args.dim), dtype=np.float32) - 0.5) / args.dim).astype(np.float32)
    h, neu1e = np.empty(args.dim, np.float32), np.empty(args.dim, np.float32)
    no_offsets, no_top = np.zeros(0, np.int64), np.zeros((0, args.dim), np.float32)
    out_init = ((rng.random((args.vocab, args.dim), dtype=np.float32) - 0.5) / args.dim).astype(np.float32)
    tables_in = {  # (out_w, hs_w, negatives per example)
        "hierarchical softmax": (np.zeros((0, args.dim), np.float32), np.zeros((args.vocab - 1, args.dim), np.float32), 0),
        "negative sampling": (out_init, np.zeros((0, args.dim), np.float32), 5),
    }  # fmt: skip
    rows = {}
    for name, (out_w, hs_w, k) in tables_in.items():
        negs = rng.choice(args.vocab, size=(len(targets), k), p=noise).astype(np.int64)
        examples = (inputs, targets, negs, tree.points, tree.codes, tree.lengths)

        def node_by_node_run(a, o, s, ex=examples):
            return node_by_node(a, o, s, *ex, 0.025, h, neu1e)

        def three_passes_run(a, o, s, ex=examples):
            i, t, n, pts, cds, lens = ex
            return train_examples(a, o, s, i, no_offsets, t, n, pts, cds, lens, False, 0.025, 0, len(t), h, neu1e, no_top, 0)

        runs = {"node by node": node_by_node_run, "three passes": three_passes_run}
        best, tables = {}, {}
        for _ in range(args.repeats):  # in turn, so the machine's drift hits both alike; the first compiles
            for run, fn in runs.items():
                a, o, s = in_w.copy(), out_w.copy(), hs_w.copy()
                t0 = time.perf_counter()
                fn(a, o, s)
                best[run] = min(best.get(run, math.inf), time.perf_counter() - t0)
                tables[run] = (a, o, s)
        unit, units = ("node", int(tree.lengths[targets].sum())) if k == 0 else ("example", len(targets))
        ns = {run: best[run] * 1e9 / units for run in runs}
        diff = max(float(np.abs(x - y).max(initial=0.0)) for x, y in zip(tables["node by node"], tables["three passes"]))
        rows[name] = {"unit": unit, "ns_node_by_node": ns["node by node"], "ns_three_passes": ns["three passes"],
                      "speedup": ns["node by node"] / ns["three passes"], "max_abs_diff": diff}  # fmt: skip
        print(f"{name}: node by node {ns['node by node']:.1f} ns/{unit}, three passes {ns['three passes']:.1f} ns/{unit} "
              f"({rows[name]['speedup']:.2f}x), tables differ by <= {diff:.1e}")  # fmt: skip
    write_results(args.json, settings_of(args), rows)


if __name__ == "__main__":
    main()
