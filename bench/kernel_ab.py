"""Another checkout's CPU kernel against this one's, in one process, in turn, on a run's own chunks.

    git worktree add /tmp/base HEAD~1                               # the kernel to compare against
    taskset -c 1 python bench/kernel_ab.py --base /tmp/base --hs --threads 1
    taskset -c 0,1 python bench/kernel_ab.py --base /tmp/base --model cbow --threads 2 --rounds 8

A kernel change worth 5-10% cannot be seen by timing two commands one after the other on this machine: its
host moves whole runs by 1.5x within minutes. Here both kernels are compiled into one process and called in
turn, round after round, on the same captured chunk (the first ``--chunks`` kernel calls of one epoch of a
wiki8 prefix, as ``common.capture_chunks`` captures them), each from fresh copies of the same starting tables. A
slow spell then hits both calls of a round alike, and the ratio of each round's pair is what is reported:
its median, lowest and highest, beside each kernel's best and median words/s. The summed loss of the first
call of each is printed too: a change meant to keep the arithmetic should give the same loss (one thread:
bit for bit).

The base checkout's ``w2v/engines/numba_engine.py`` and ``hogwild.py`` are loaded under other module names
(its own sources, compiled without numba's on-disk cache, so the first round takes a minute more), and its
``_train_blocks`` must take the same arguments as this checkout's. Results go to ``--json`` (default
``bench/results/kernel_ab.json``). Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np
from common import TABLES, TOP_N, WIKI8, add_json_argument, capture_chunks, paired_ratios, settings_of, write_results

# The imports the two kernel modules make of each other, rewritten to the base's copies.
_BASE_NAMES = {"numba_engine": "w2v_base_numba_engine", "hogwild": "w2v_base_hogwild"}


def load_base_kernels(base: Path) -> types.ModuleType:
    """The base checkout's hogwild module (and its numba_engine), compiled from its sources; exits with one line
    when the checkout has none."""
    sources = {name: base / "w2v" / "engines" / f"{name}.py" for name in _BASE_NAMES}
    missing = [str(path) for path in sources.values() if not path.is_file()]
    if missing:
        sys.exit(f"error: --base {base} is not a w2v checkout ({missing[0]} is missing): make one with git worktree add")
    modules = {}
    for name in ("numba_engine", "hogwild"):  # hogwild imports numba_engine
        text = sources[name].read_text()
        text = text.replace("from w2v.engines.numba_engine import", f"from {_BASE_NAMES['numba_engine']} import")
        text = text.replace("cache=True", "cache=False")  # numba cannot reload a cache of a module loaded this way
        text = text.replace("\nregister(", "\n(lambda *a, **k: None)(")  # the engine registry holds this checkout's
        module = types.ModuleType(_BASE_NAMES[name])
        module.__file__ = str(sources[name])
        sys.modules[_BASE_NAMES[name]] = module
        exec(compile(text, str(sources[name]), "exec"), module.__dict__)
        modules[name] = module
    return modules["hogwild"]


def time_call(train_blocks, call: list, threads: int, top_nodes: int) -> tuple[float, float]:
    """(words/s, summed loss) of one kernel on one captured call, from fresh copies of its tables."""
    call = list(call)
    for i in TABLES:
        call[i] = call[i].copy()
    call[TOP_N] = top_nodes if threads > 1 else 0
    words = int((np.asarray(call[2]) - np.asarray(call[1])).sum())
    t0 = time.perf_counter()
    train_blocks(*call)
    seconds = time.perf_counter() - t0
    return words / seconds, float(np.asarray(call[-2]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (git worktree add PATH COMMIT)")
    parser.add_argument("--corpus", default=str(WIKI8))
    parser.add_argument("--model", choices=("sg", "cbow"), default="sg")
    parser.add_argument("--hs", action="store_true", help="hierarchical softmax (negatives=0) instead of negative sampling")
    parser.add_argument("--max-tokens", type=int, default=3_000_000)
    parser.add_argument("--chunks", type=int, default=1, help="kernel calls to time (each about 40 blocks of 65k tokens)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hs-private-nodes", type=int, default=255, help="with --hs and 2 threads, as the engine")
    parser.add_argument("--rounds", type=int, default=6)
    add_json_argument(parser, "kernel_ab")
    args = parser.parse_args()

    import numba

    from w2v.engines import hogwild

    base_hogwild = load_base_kernels(args.base)
    chunks = capture_chunks(args)
    if not chunks:
        sys.exit("error: the run made no kernel call to capture: use a longer --max-tokens")
    numba.set_num_threads(args.threads)
    kernels = {"base": base_hogwild._train_blocks, "this": hogwild._train_blocks}
    rounds: dict[str, list[dict]] = {name: [] for name in kernels}  # each round's {"train_wps": words/s}
    losses = {}
    for r in range(args.rounds + 1):  # round 0 compiles both and is not counted
        order = list(kernels.items()) if r % 2 else list(kernels.items())[::-1]  # each goes first in half the rounds
        for name, kernel in order:
            rate, summed_loss = 0.0, 0.0
            for call in chunks:
                try:
                    wps, loss = time_call(kernel, call, args.threads, args.hs_private_nodes)
                except TypeError as err:  # numba's "No matching definition" when the two signatures differ
                    first = str(err).splitlines()[0]
                    sys.exit(f"error: the base checkout's _train_blocks takes other arguments than this one's: {first}")
                rate += wps / len(chunks)
                summed_loss += loss
            if r == 0:
                losses[name] = summed_loss
            else:
                rounds[name].append({"train_wps": rate})
    ratios = paired_ratios(rounds["this"], rounds["base"])
    print(f"{args.model}{' HS' if args.hs else ''}, {args.threads} thread(s), {len(chunks)} chunk(s), {args.rounds} rounds in turn")
    print(f"loss: base {losses['base']:.6f}, this {losses['this']:.6f}")
    print("| kernel | best words/s | median words/s |\n|---|---|---|")
    speeds = {name: [r["train_wps"] for r in runs] for name, runs in rounds.items()}
    for name, values in speeds.items():
        print(f"| {name} | {max(values):,.0f} | {np.median(values):,.0f} |")
    median = float(np.median(ratios))
    print(f"this / base, round by round: median {median:.3f} (lowest {min(ratios):.3f}, highest {max(ratios):.3f})")
    rows = {name: {"words_per_s_rounds": values, "loss": losses[name]} for name, values in speeds.items()}
    rows["this_vs_base"] = {"median": median, "rounds": ratios}
    write_results(args.json, settings_of(args), rows)


if __name__ == "__main__":
    main()
