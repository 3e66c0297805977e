"""Words/s at 1 and 2 pinned cores for w2v, gensim's iterator mode and its corpus_file mode, every model.

    python bench/scaling.py                                  # wiki8, 1 epoch, every model (about 25 minutes on 2 cores)
    python bench/scaling.py --models sg-ns,cbow-ns --max-tokens 5000000
    python bench/scaling.py --serial-only                    # only w2v's serial part per chunk (the projection's input)
    python bench/scaling.py --reuse                          # the cells of an earlier --json, the serial part measured again
    python bench/scaling.py --models sg-ns --rounds 3        # 3 rounds, the 1- and 2-thread cells in turn: best of 3
    python bench/scaling.py --models cbow-ns --systems w2v --rounds 3   # w2v alone: its scaling, paired round by round

Each cell is one ``bench/vs_gensim.py`` run under ``taskset`` (core 0 for one thread, cores 0-1 for
two), so the three systems see the same cores, tokens and settings in one run and are scored by the
same evaluator. The results go to ``--json`` (default ``bench/results/scaling.json``; each cell's own
run beside it, as ``<name>.<model>.t<threads>.json``, or ``...t<threads>.r<round>.json`` with ``--rounds``) and a
markdown table is printed.

With ``--rounds N`` the cells take turns: one round of the 1-thread cell, one of the 2-thread cell, N times.
This machine's speed drifts by up to 1.5x within minutes, and a cell's rounds taken one after another put
a whole cell in one spell and the other cell in another, so its 1 -> 2 scaling measured the host as much
as w2v. Each cell is then its rounds summarised as ``vs_gensim.py --rounds`` summarises them (best speed,
median beside it, mean scores), and ``scaling_w2v_paired`` is the median of the rounds' own ratios.

The projection to more cores uses what this machine can measure: the 1-thread rate ``r1``, the
2-thread efficiency ``e = r2 / (2 r1)`` (memory and cache contention between two cores), the kernel's
seconds per block on one thread ``c``, and the serial time ``s`` between two kernel calls (seeds,
learning rates, logging, the next span: everything on the host, measured with the kernel timed
apart), counted per block. A chunk at n threads holds 16 n blocks, so it takes ``16 n s + 16 c / e``
against ``16 n (s + c)`` on one core. Holding ``e`` at its two-core value is an assumption about
the memory system of a bigger machine, stated as such in docs/benchmarks.md. The arithmetic is
``w2v.scaling_model.project_cores``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, WIKI8, compose_train, paired_ratios, summarize_rounds

from w2v.scaling_model import project_cores

MODELS = {
    "sg-ns": ["--model", "sg"],
    "cbow-ns": ["--model", "cbow"],
    "sg-hs": ["--model", "sg", "--hs", "--negatives", "0"],
    "cbow-hs": ["--model", "cbow", "--hs", "--negatives", "0"],
    "fasttext": ["--model", "fasttext"],
}


def run_cell(model: str, threads: int, args: argparse.Namespace, round_no: int | None = None) -> dict:
    """One vs_gensim.py run pinned to ``threads`` cores (one round of it when ``round_no`` is given); returns
    its JSON rows."""
    tag = f".{model}.t{threads}" + (f".r{round_no}" if round_no is not None else "")
    out = Path(args.json).with_suffix(f"{tag}.json")
    cores = ",".join(str(c) for c in range(threads))
    script = str(ROOT / "bench" / "vs_gensim.py")
    cmd = ["taskset", "-c", cores, sys.executable, script, "--threads", str(threads), "--epochs", str(args.epochs),
           "--json", str(out), "--engine", args.engine, "--systems", args.systems, *MODELS[model]]  # fmt: skip
    if args.max_tokens:
        cmd += ["--max-tokens", str(args.max_tokens)]
    if model == "fasttext" and args.max_tokens is None:
        cmd += ["--bucket", str(args.bucket)]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        sys.exit(f"error: {model} at {threads} threads failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    print(proc.stdout.strip().split("\n\n")[-1], flush=True)
    return json.loads(out.read_text())["rows"]


def run_cells(model: str, args: argparse.Namespace) -> tuple[dict[int, dict], list[float]]:
    """The model's 1- and 2-thread cells and w2v's 1 -> 2 ratio in each round: ``--rounds`` rounds, the
    cells in turn (see the module docstring)."""
    per_round = {1: [], 2: []}
    for r in range(args.rounds):
        for threads in (1, 2):
            per_round[threads].append(run_cell(model, threads, args, r + 1 if args.rounds > 1 else None))
    return combine_rounds(per_round)


def combine_rounds(per_round: dict[int, list[dict]]) -> tuple[dict[int, dict], list[float]]:
    """Each cell's rounds (``{threads: [rows of round 1, ...]}``, a round's rows by system) summarised per
    system, and w2v's two-thread rate over its one-thread rate round by round."""
    cells = {t: {system: summarize_rounds([rows[system] for rows in rounds]) for system in rounds[0]} for t, rounds in per_round.items()}
    paired = paired_ratios([rows["w2v"] for rows in per_round[2]], [rows["w2v"] for rows in per_round[1]])
    return cells, paired


def serial_seconds_per_chunk(args: argparse.Namespace) -> dict:
    """w2v's serial part on one thread: the host time between two kernel calls of an epoch (seeds, learning
    rates, logging, the next span), per chunk and per block, and the time an epoch's end adds once."""
    from w2v.engines import hogwild
    from w2v.train.trainer import train

    calls: list[tuple[float, float, int]] = []  # (start, end, blocks) of each kernel call
    real = hogwild._train_blocks

    def timed(*a):
        t0 = time.perf_counter()
        real(*a)
        calls.append((t0, time.perf_counter(), len(a[1])))

    hogwild._train_blocks = timed
    # Small chunks (16 blocks) so one epoch holds many: the gaps inside an epoch are the steady state.
    overrides = ["corpus=text8", f"corpus.path={WIKI8}", "corpus.max_tokens=8000000", "epochs=2", "eval=none", "engine=hogwild",
                 "threads=1", "checkpoint_every_minutes=0", "heldout=0", "chunk_tokens=1048576"]  # fmt: skip
    cfg = compose_train(overrides)
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, Path(tmp) / "run")
    hogwild._train_blocks = real
    gaps = sorted(b[0] - a[1] for a, b in zip(calls[1:], calls[2:]))  # the first call loads the compiled kernel
    kernel = sum(end - start for start, end, _ in calls[1:])
    blocks = sum(n for *_, n in calls[1:])
    steady = gaps[len(gaps) // 2]  # the median gap: an epoch's end is one gap in many
    return {
        "serial_s_per_chunk": steady,
        "blocks_per_chunk": blocks / max(1, len(calls) - 1),
        "epoch_end_s": max(gaps) - steady,
        "kernel_s_per_block_1t": kernel / max(1, blocks),
        "kernel_s_per_chunk_1t": kernel / max(1, len(calls) - 1),
        "chunks": len(calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--bucket", type=int, default=2_000_000)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both cells, in turn: best speed, mean scores")
    parser.add_argument("--systems", default="w2v,gensim,gensim_file", help="vs_gensim.py's systems (w2v alone: w2v)")
    parser.add_argument("--json", default=str(RESULTS / "scaling.json"))
    parser.add_argument("--serial-only", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="take the cells from --json and only measure the serial part again")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("error: needs 2 cores to pin 1 and 2 threads")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    serial = serial_seconds_per_chunk(args)
    ms, kernel = serial["serial_s_per_chunk"] * 1e3, serial["kernel_s_per_block_1t"] * 1e3
    print(f"serial part: {ms:.1f} ms per chunk ({serial['blocks_per_chunk']:.0f} blocks), kernel {kernel:.1f} ms per block on 1 thread")
    result = {"serial": serial, "models": {}}
    saved = json.loads(Path(args.json).read_text())["models"] if args.reuse else {}
    if not args.serial_only:
        for model in args.models.split(","):
            if args.reuse:
                entry = saved[model]
                cells, paired = {t: entry["cells"][str(t)] for t in (1, 2)}, entry.get("scaling_w2v_rounds", [])
            else:
                cells, paired = run_cells(model, args)
            r1, r2 = cells[1]["w2v"]["train_wps"], cells[2]["w2v"]["train_wps"]
            result["models"][model] = {"cells": cells, "scaling_w2v": r2 / r1, "projection": project_cores(r1, r2, serial)}
            if "train_wps_median" in cells[1]["w2v"]:  # --rounds: the medians' ratio and the paired rounds' beside the best rounds'
                result["models"][model]["scaling_w2v_median"] = cells[2]["w2v"]["train_wps_median"] / cells[1]["w2v"]["train_wps_median"]
            if len(paired) > 1:
                result["models"][model]["scaling_w2v_rounds"] = paired
                result["models"][model]["scaling_w2v_paired"] = statistics.median(paired)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)


def print_table(result: dict) -> None:
    print("| model | threads | w2v | gensim | gensim corpus_file | vs gensim | vs corpus_file | w2v analogy@30k / ws353 "
          "| gensim analogy@30k / ws353 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for model, m in result["models"].items():
        for t, rows in m["cells"].items():
            w, g, f = rows["w2v"], rows.get("gensim"), rows.get("gensim_file")  # absent with --systems w2v
            wps = [f"{r['train_wps']:,.0f}" if r else "-" for r in (w, g, f)]
            ratios = [f"{w['train_wps'] / r['train_wps']:.2f}x" if r else "-" for r in (g, f)]
            theirs = f"{g['analogy@30k']:.3f} / {g['ws353']:.3f}" if g else "-"
            print(f"| {model} | {t} | {' | '.join(wps)} | {' | '.join(ratios)} | {w['analogy@30k']:.3f} / {w['ws353']:.3f} | {theirs} |")
        p = m["projection"]
        print(
            f"| {model} | scaling 1->2: {m['scaling_w2v']:.2f}x"
            + (f" (medians: {m['scaling_w2v_median']:.2f}x)" if "scaling_w2v_median" in m else "")
            + (f" (paired rounds: {m['scaling_w2v_paired']:.2f}x)" if "scaling_w2v_paired" in m else "")
            + " | projected speed-up at 8/16/64 cores: "
            + " / ".join(f"{p[n]['speedup_vs_1']:.1f}x" for n in ("8", "16", "64"))
            + " | | | | | | |"
        )


if __name__ == "__main__":
    main()
