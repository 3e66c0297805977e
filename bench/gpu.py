"""Everything the GPU engine needs checked and timed, in one call, printed as one table.

    python bench/gpu.py                 # a CUDA GPU, triton, and ../shared/data/wiki8 (well under 8 minutes on one H200)
    python bench/gpu.py --quick         # 2M-token prefixes only: a smoke test of the script itself

Rows (all skip-gram NS at gensim's defaults, one process unless named torchrun):
1. check: wiki8 prefix, 3 epochs: the numba CPU kernel against the Triton kernel on CUDA. The
   per-epoch losses must agree within --loss-tol (relative). Then the same Triton run under
   ``torchrun --standalone --nproc_per_node=1 train.py device=cuda`` (a subprocess, --torchrun-timeout):
   it must finish, name nccl as its backend in train.log, and match the one-process Triton row
   (losses within --loss-tol, analogy within 0.01, WS353 within 0.02; the two differ only by Hogwild races).
2. wiki8, 1 epoch: numba (CPU, all cores), triton (CUDA, default G) and the batched torch engine
   (CUDA, 4,096-pair steps): words/s, analogy@30k, WS353, peak GPU memory. The Triton row must be
   within 1 analogy point and 0.02 WS353 of the numba row (the project's quality targets).
3. a G sweep on wiki8, 1 epoch: words/s against WS353, to tune the default G.
4. wiki8 repeated --repeat times, 1 epoch: words/s once the pipeline is warm.
5. where the time goes: one chunk's preparation (torch ops) and kernel, timed with CUDA events, and
   the host time of one engine step (the launch overhead the Python side adds).
Exits non-zero if a check fails. The table, the profile and any failures also go to ``--json``
(default ``bench/results/gpu.json``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, WIKI8, add_json_argument, clean_env, compose_train, settings_of, write_results


def run(overrides: list[str], out: Path) -> dict:
    """Train with the real config tree and return metrics.json's content (plus peak GPU memory)."""
    import torch

    from w2v.train.trainer import train

    cfg = compose_train(overrides)
    torch.cuda.reset_peak_memory_stats()
    metrics = train(cfg, out)
    metrics["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    metrics.update(scores(out))
    return metrics


def run_torchrun(overrides: list[str], out: Path, timeout: float) -> dict:
    """``torchrun --standalone --nproc_per_node=1 train.py`` (NCCL on one GPU) in a subprocess: metrics.json,
    the backend its train.log names, and the scores; raises RuntimeError with the output's tail if it fails."""
    env = clean_env(extra=("TRITON_INTERPRET",))  # the real kernel, not the interpreter
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", str(ROOT / "train.py"),
           *overrides, f"hydra.run.dir={out}"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=out.parent, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not (out / "metrics.json").exists():
        raise RuntimeError(f"torchrun exited with {proc.returncode}: {(proc.stdout + proc.stderr)[-1500:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["backend"] = log_backend((out / "train.log").read_text())
    metrics["peak_gpu_mb"] = float("nan")  # another process's
    metrics.update(scores(out))
    return metrics


def log_backend(text: str) -> str | None:
    """The process-group backend a torchrun rank's log names (``rank 0 of 1 (...), backend nccl, ...``), or None."""
    found = re.search(r"rank \d+ of \d+ \(local rank \d+ of \d+\), backend (\w+)", text)
    return found.group(1) if found else None


def torchrun_failures(plain: dict, one_rank: dict, loss_tol: float, analogy_tol: float = 0.01, ws353_tol: float = 0.02) -> list[str]:
    """What keeps a one-GPU torchrun row from matching the one-process Triton row of the same config (empty: it matches)."""
    failures = []
    if one_rank.get("backend") != "nccl":
        failures.append(f"torchrun device=cuda ran on backend {one_rank.get('backend')}, not nccl")
    if one_rank.get("world_size") != 1:
        failures.append(f"torchrun row has world_size {one_rank.get('world_size')}, not 1")
    rel = math.inf  # a missing epoch fails the check
    if len(plain["epoch_loss"]) == len(one_rank["epoch_loss"]):
        rel = max((abs(a - b) / abs(a) for a, b in zip(plain["epoch_loss"], one_rank["epoch_loss"])), default=math.inf)
    if not rel <= loss_tol:
        failures.append(f"torchrun losses {one_rank['epoch_loss']} differ from one process's {plain['epoch_loss']} by {rel:.4f}")
    if abs(plain["analogy"] - one_rank["analogy"]) > analogy_tol or abs(plain["ws353"] - one_rank["ws353"]) > ws353_tol:
        failures.append(
            f"torchrun scores analogy {one_rank['analogy']:.4f}, ws353 {one_rank['ws353']:.4f} against one process's "
            f"{plain['analogy']:.4f}, {plain['ws353']:.4f}"
        )
    return failures


def scores(run_dir: Path) -> dict:
    import logging

    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.ERROR)
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    return {
        "analogy": kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)[0],
        "ws353": kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1].statistic,
    }


def where_time_goes(corpus: Path, tmp: Path) -> str:
    """Time one 4M-word chunk: device preparation and kernel (CUDA events), and one step's host time."""
    import numpy as np
    import torch

    from w2v.data.sampler import build_alias_table
    from w2v.engines import triton_kernels as tk
    from w2v.engines.chunks import prepare_chunk

    with gzip.open(corpus, "rt") as f:
        words = f.read(30_000_000).split()[:4_194_304]
    vocab, ids = np.unique(np.array(words), return_inverse=True)
    counts = np.bincount(ids)
    dev = torch.device("cuda")
    tokens = torch.from_numpy(ids.astype(np.int32)).to(dev)
    total = counts.sum()
    keep = torch.from_numpy(np.minimum(1.0, np.sqrt(1e-3 * total / counts) + 1e-3 * total / counts).astype(np.float32)).to(dev)
    prob, alias = build_alias_table(counts.astype(np.float64) ** 0.75)
    prob, alias = prob.to(dev).float(), alias.to(dev).int()
    in_w = ((torch.rand(len(vocab), 100, device=dev) - 0.5) / 100).contiguous()
    out_w = torch.zeros(len(vocab), 100, device=dev)
    grid = 8 * torch.cuda.get_device_properties(dev).multi_processor_count
    gen = torch.Generator(device=dev)
    lines = []
    for attempt in range(3):  # the first includes Triton's compile
        e = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        gen.manual_seed(attempt)
        host0 = time.perf_counter()
        e[0].record()
        chunk = prepare_chunk(tokens, keep, 5, True, gen)
        e[1].record()
        out = tk.word2vec_chunk(*chunk, in_w, out_w, prob, alias, attempt, 0.025, 0.024, 5, 5, grid)
        e[2].record()
        host = time.perf_counter() - host0
        torch.cuda.synchronize()
        pairs = int(out[1])
        prep, kern = e[0].elapsed_time(e[1]), e[1].elapsed_time(e[2])
        lines.append(
            f"chunk {attempt}: 4.19M words, {pairs / 1e6:.1f}M pairs: prepare {prep:.1f} ms, kernel {kern:.1f} ms "
            f"({len(tokens) / (prep + kern) / 1e3:.1f}M words/s), host time to launch both {host * 1e3:.1f} ms"
        )
    return "\n".join(lines)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=WIKI8)
    parser.add_argument("--quick", action="store_true", help="2M-token prefixes everywhere (smoke test)")
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--grids", default="132,528,1056,2112,4224", help="G values of the sweep")
    parser.add_argument("--loss-tol", type=float, default=0.03)
    parser.add_argument("--torchrun-timeout", type=float, default=300, help="seconds the one-GPU torchrun row may take")
    add_json_argument(parser, "gpu")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA device; run this on a GPU machine")
    if not args.corpus.exists():
        sys.exit(f"error: {args.corpus} not found; pass --corpus")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    base = ["corpus=text8", "eval=none", "checkpoint_every_minutes=0", "log_every=1000", "seed=1", "epochs=1"]
    prefix = ["corpus.max_tokens=2000000"]
    limit = prefix if args.quick else []
    rows, failures = [], []

    def row(name: str, m: dict) -> dict:
        rows.append((name, m))
        print(f"{name}: {m['words_per_sec'] / 1e6:.2f}M words/s, analogy {m['analogy']:.4f}, ws353 {m['ws353']:.4f}", flush=True)
        return m

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = [f"corpus.path={args.corpus}"]
        # 1. Loss trajectory, CPU kernel against GPU kernel.
        check = base + path + prefix + ["epochs=3"]
        cpu = row("check numba cpu (2M, 3 ep)", run(check + ["device=cpu", "engine=numba"], tmp / "c1"))
        gpu = row("check triton cuda (2M, 3 ep)", run(check + ["device=cuda", "engine=triton"], tmp / "c2"))
        rel = max(abs(a - b) / abs(a) for a, b in zip(cpu["epoch_loss"], gpu["epoch_loss"]))
        print(f"check losses: numba {cpu['epoch_loss']}, triton {gpu['epoch_loss']}, max rel diff {rel:.4f} (tol {args.loss_tol})")
        if rel > args.loss_tol:
            failures.append(f"loss trajectory differs by {rel:.4f}")
        # 1b. The same Triton run under torchrun, one rank on this GPU: NCCL, the chunk rounds of w2v/train/dist_chunks.py.
        try:
            one_rank = run_torchrun(check + ["device=cuda", "engine=triton"], tmp / "c3", args.torchrun_timeout)
            row("check torchrun 1 GPU triton (2M, 3 ep)", one_rank)
            print(f"torchrun backend {one_rank['backend']}, losses {one_rank['epoch_loss']}", flush=True)
            failures += torchrun_failures(gpu, one_rank, args.loss_tol)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            failures.append(f"torchrun row failed: {str(exc)[:1500]}")
        # 2. wiki8, one epoch: the three engines.
        numba = row("wiki8 numba cpu", run(base + path + limit + ["device=cpu", "engine=numba"], tmp / "w1"))
        triton = row("wiki8 triton cuda", run(base + path + limit + ["device=cuda", "engine=triton"], tmp / "w2"))
        row("wiki8 torch cuda (batch 4096)", run(base + path + limit + ["device=cuda", "engine=torch"], tmp / "w3"))
        if numba["analogy"] - triton["analogy"] > 0.01 or numba["ws353"] - triton["ws353"] > 0.02:
            failures.append("triton quality below the CPU kernel's")
        # 3. G sweep.
        for g in args.grids.split(","):
            row(f"wiki8 triton G={g}", run(base + path + limit + ["device=cuda", "engine=triton", f"grid={g}"], tmp / f"g{g}"))
        # 4. A longer stream.
        big = tmp / "repeated.txt"
        with gzip.open(args.corpus, "rb") as src, open(big, "wb") as dst:
            data = src.read()
            for _ in range(args.repeat):
                dst.write(data + b" ")
        row(f"wiki8 x{args.repeat} triton cuda", run(base + [f"corpus.path={big}"] + limit + ["device=cuda", "engine=triton"], tmp / "r"))
        # 5. Where the time goes.
        profile = where_time_goes(args.corpus, tmp)

    print("\n| run | engine | device | G | words/s | analogy@30k | WS353 | peak GPU MB | train s | vocab s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, m in rows:
        print(
            f"| {name} | {m['engine']} | {m['device']} | {m.get('grid') or '-'} | {m['words_per_sec'] / 1e6:.2f}M | "
            f"{m['analogy']:.4f} | {m['ws353']:.4f} | {m['peak_gpu_mb']:.0f} | {m['train_seconds']:.1f} | {m['vocab_seconds']:.1f} |"
        )
    print("\n" + profile)
    print("RESULT", "PASS" if not failures else "FAIL: " + "; ".join(failures))
    keys = ("engine", "device", "grid", "words_per_sec", "analogy", "ws353", "peak_gpu_mb", "train_seconds", "vocab_seconds",
            "epoch_loss", "backend", "world_size")  # fmt: skip
    table = [{"run": name, **{k: m.get(k) for k in keys}} for name, m in rows]
    write_results(args.json, settings_of(args), table, device=torch.cuda.get_device_name(0), profile=profile.splitlines(),
                  failures=failures)  # fmt: skip
    sys.exit(0 if not failures else 1)


if __name__ == "__main__":
    main()
