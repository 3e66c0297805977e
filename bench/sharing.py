"""What two threads lose by sharing the tables: the CPU kernel on the same chunks, shared and private.

    taskset -c 0,1 python bench/sharing.py                   # skip-gram NS, a 6M-token wiki8 prefix, about 2 minutes
    taskset -c 0,1 python bench/sharing.py --model cbow --repeats 6
    taskset -c 0,1 python bench/sharing.py --hs --private-nodes 63,255,1023   # hierarchical softmax
    taskset -c 0,1 python bench/sharing.py --model cbow --private-rows 64,256,1024   # the most frequent words' rows

It trains one epoch of a wiki8 prefix with ``engine=hogwild`` and keeps the arguments of its first
``--chunks`` kernel calls (each a span chunk: blocks of the id file, seeds, learning rates, tables).
Then it times ``hogwild._train_blocks`` on those chunks, from the same starting tables each time, four ways:

- **1 thread**: the chunk's blocks in order on one thread;
- **2 threads**: the engine as it runs, the blocks shared out over two threads (Hogwild);
- **2 halves, shared**: each thread trains one contiguous half of the blocks, on the shared tables;
- **2 halves, private**: the same halves, each thread on its own copy of the input and output tables.
  Nothing is merged: this is not a way to train, it is the rate two threads reach when no row moves
  between their caches (the upper bound on what keeping rows private, as pWord2Vec does, can win);
- **2 threads, N private rows**, for each N of ``--private-rows``: the engine with ``private_rows=N``, each
  thread training the N most frequent words' rows in its own copy, merged every 16N examples. The ways
  above train every row shared (``private_rows=0``).

With ``--hs`` (hierarchical softmax, no negatives) ``2 threads`` keeps every row of the tree shared (word2vec.c;
the engine's default is ``hs_private_nodes=255``), and the halves give way to ``2 threads, top N private``:
the engine with ``hs_private_nodes=N``, each thread training the Huffman tree's top N rows in its own
copy and adding its change to the shared rows after every 4N path walks (and at the end of each block),
for each N of ``--private-nodes``.

It prints examples/s per way, each the median of ``--repeats`` rounds taken in turn (the machine's
drift hits every way alike), and the two-thread efficiency ``rate / (2 x one thread)``. Results go to
``--json`` (default ``bench/results/sharing.json``). Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import HOT, OUT_BASE, TABLES, TOP_N, WIKI8, add_json_argument, capture_chunks, settings_of, write_results


def make_halves():
    """A compiled variant of ``_train_blocks``: two contiguous halves of the blocks, one per thread, each on
    the tables it is given (the same arrays twice, or a private copy for the second thread)."""
    from numba import njit, prange

    from w2v.engines.hogwild import _train_block
    from w2v.engines.numba_engine import _FASTMATH

    @njit(parallel=True, fastmath=_FASTMATH, nogil=True)
    def halves(ids, block_lo, block_hi, seeds, lr_lo, lr_hi, remap, keep_prob, in_w, out_w, hs_w, in_2, out_2, points, codes,
               lengths, prob, alias, bag_inputs, bag_offsets, max_bag, window, shrink, negatives, cbow, bag_mean, share, top_n,
               batched, ns_skip, hot, in_base, out_base, snaps_in, snaps_out, losses, examples):  # fmt: skip  # pragma: no cover - compiled
        n = block_lo.shape[0]
        for half in prange(2):
            iw = in_w if half == 0 else in_2
            ow = out_w if half == 0 else out_2
            for b in range(half * n // 2, (half + 1) * n // 2):
                losses[b], examples[b] = _train_block(
                    ids, block_lo[b], block_hi[b], seeds[b], lr_lo[b], lr_hi[b], remap, keep_prob, iw, ow, hs_w, points, codes,
                    lengths, prob, alias, bag_inputs, bag_offsets, max_bag, window, shrink, negatives, cbow, bag_mean, share, top_n,
                    batched, ns_skip, 0, 0, -1, snaps_in[0], snaps_out[0],  # private_rows off: the halves' own tables say it
                )  # fmt: skip

    return halves


def time_way(way: str, chunks: list[list], halves) -> float:
    """Examples/s of one way over every captured chunk, each from fresh copies of its starting tables."""
    import numba

    from w2v.engines import hogwild

    examples, seconds = 0, 0.0
    for call in chunks:
        call = list(call)
        for i in TABLES:
            call[i] = call[i].copy()
        in_w, out_w = call[8], call[9]
        numba.set_num_threads(1 if way == "1 thread" else 2)
        # The captured call holds the run's hs_private_nodes: each way sets its own (none for the first two).
        call[TOP_N] = int(way.split()[3]) if way.startswith("2 threads, top") else 0
        # The captured call holds the run's private_rows and spare rows: every way but its own trains every row shared.
        hot = int(way.split(", ")[-1].split()[0]) if way.endswith("private rows") else 0
        call[OUT_BASE] = call[OUT_BASE] if hot else -1
        call[HOT] = hot
        t0 = time.perf_counter()
        if way.startswith(("1 thread", "2 threads")):
            hogwild._train_blocks(*call)
        else:
            second = (in_w, out_w) if way == "2 halves, shared" else (in_w.copy(), out_w.copy())
            halves(*call[:11], *second, *call[11:])
        seconds += time.perf_counter() - t0
        examples += int(call[-1].sum())
    return examples / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(WIKI8))
    parser.add_argument("--model", choices=("sg", "cbow"), default="sg")
    parser.add_argument("--max-tokens", type=int, default=6_000_000)
    parser.add_argument("--chunks", type=int, default=2, help="kernel calls to time (each about 40 blocks of 65k tokens)")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--hs", action="store_true", help="hierarchical softmax (negatives=0) instead of negative sampling")
    parser.add_argument("--private-nodes", default="63,255,1023", help="--hs: the hs_private_nodes values to time")
    parser.add_argument("--private-rows", default="64,256,1024", help="the private_rows values to time (empty: none)")
    add_json_argument(parser, "sharing")
    args = parser.parse_args()

    rows = [int(n) for n in args.private_rows.split(",") if n]
    args.capture_private_rows = max(rows, default=0)
    chunks = capture_chunks(args)
    halves = make_halves()
    if args.hs:
        ways = ("1 thread", "2 threads", *(f"2 threads, top {n} private" for n in args.private_nodes.split(",")))
    else:
        ways = ("1 thread", "2 threads", "2 halves, shared", "2 halves, private")
    top = "top 255 private, " if args.hs else ""  # with a tree: the engine's default hs_private_nodes beside them
    ways = (*ways, *(f"2 threads, {top}{n} private rows" for n in rows))
    for way in ways:  # compile everything before timing
        time_way(way, chunks[:1], halves)
    rates: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(args.repeats):
        for way in ways:
            rates[way].append(time_way(way, chunks, halves))
    one = float(np.median(rates["1 thread"]))
    rows = {}
    print(f"{args.model}, {len(chunks)} chunks of {len(chunks[0][1])} blocks, median of {args.repeats}")
    print("| way | examples/s | efficiency | every round |\n|---|---|---|---|")
    for way, values in rates.items():
        median = float(np.median(values))
        eff = median / one if way == "1 thread" else median / (2 * one)
        rows[way] = {"examples_per_s": median, "efficiency": eff, "rounds": values}
        print(f"| {way} | {median:,.0f} | {eff:.2f} | {' '.join(f'{v / 1e6:.2f}M' for v in values)} |")
    write_results(args.json, settings_of(args), rows)


if __name__ == "__main__":
    main()
