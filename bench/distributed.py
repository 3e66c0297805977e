"""torchrun data parallelism against one process, same corpus, settings, seed and total threads.

    python bench/distributed.py                          # a 2M-token wiki8 prefix, 1 epoch
    python bench/distributed.py --max-tokens 1000000 --epochs 3
    python bench/distributed.py --full                   # all of wiki8 (on a quiet machine: minutes per run)
    python bench/distributed.py --only single,torchrun -- dist.hot_rows=1000   # extra train.py overrides after --
    python bench/distributed.py --project --nodes 64     # the scaling model's table only (w2v/scaling_model.py), no training

Four configurations train with ``train.py`` as a user runs it, each in its own subprocess (with a
timeout, on free ports):

- ``single``: ``python train.py threads=2``;
- ``torchrun``: ``torchrun --standalone --nproc_per_node=2 train.py threads=1`` (``dist.merge=auto``:
  deltas for 2 ranks);
- ``2nodes``: two ``torchrun --nnodes=2 --nproc_per_node=1 --node_rank=i --rdzv_backend=c10d``
  processes meeting at one localhost endpoint, as two machines would;
- ``average``: ``torchrun`` as above with ``dist.merge=average`` (pWord2Vec's mean).

Each run's ``vectors.bin`` is scored by the same evaluator as bench/vs_gensim.py (analogy@30k by
3CosAdd, WordSim353 Spearman), and one table prints words/s (global: all ranks' words over the run's
training time), the merge, bytes merged per round and rank, rounds, seconds in merging, the scores, and each
run's words/s ratio to the single process. Before the runs, a 2-process gloo all-reduce over localhost
is timed at a few sizes: the latency and bandwidth the scaling model (docs/distributed.md) takes as this
machine's inputs. Any failed run exits non-zero with its output's tail. The rows, the probe and the
settings go to ``--json`` (default ``bench/results/distributed.json``; ``distributed_project.json`` with
``--project``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, WIKI8, clean_env, evaluate, settings_of, write_results

from w2v.scaling_model import LINKS, project_nodes

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
CONFIGS = ("single", "torchrun", "2nodes", "average")
PROBE_SIZES = (4 << 10, 256 << 10, 4 << 20, 32 << 20)  # bytes of float32 all-reduced by the gloo probe


def free_port() -> int:
    """A TCP port free on localhost now (the rendezvous binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_overrides(args: argparse.Namespace, run_dir: Path) -> list[str]:
    """The train.py overrides every configuration shares (threads are added per configuration)."""
    out = [
        "corpus=text8", f"corpus.path={args.corpus}", f"epochs={args.epochs}", f"dim={args.dim}", f"seed={args.seed}",
        "eval=none", "device=cpu", "checkpoint_every_minutes=0", "heldout=0", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    if args.max_tokens:
        out.append(f"corpus.max_tokens={args.max_tokens}")
    return out + args.overrides


def commands(config: str, args: argparse.Namespace, run_dir: Path) -> list[list[str]]:
    """The command line(s) of one configuration: one process, or one per simulated node."""
    common = train_overrides(args, run_dir)
    train_py = str(ROOT / "train.py")
    if config == "single":
        return [[sys.executable, train_py, "threads=2", *common]]
    if config == "torchrun":
        return [[*TORCHRUN, "--standalone", "--nproc_per_node=2", train_py, "threads=1", *common]]
    if config == "average":  # torchrun with pWord2Vec's mean in place of dist.merge=auto's choice (deltas for 2 ranks)
        return [[*TORCHRUN, "--standalone", "--nproc_per_node=2", train_py, "threads=1", *common, "dist.merge=average"]]
    endpoint = f"localhost:{free_port()}"
    return [
        [*TORCHRUN, "--nnodes=2", "--nproc_per_node=1", f"--node_rank={i}", "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}",
         f"--rdzv_id=w2v-bench-{os.getpid()}", train_py, "threads=1", *common]
        for i in range(2)
    ]  # fmt: skip


def run_config(config: str, args: argparse.Namespace, tmp: Path) -> dict:
    """Train one configuration, then read its metrics and log and score its vectors."""
    run_dir = tmp / config
    cmds = commands(config, args, run_dir)
    for cmd in cmds:
        print("$ " + shlex.join(cmd), flush=True)
    logs = [open(tmp / f"{config}.{i}.out", "w+") for i in range(len(cmds))]  # noqa: SIM115 (closed below)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=tmp, env=clean_env(), stdout=f, stderr=subprocess.STDOUT) for cmd, f in zip(cmds, logs)]
    try:
        for p in procs:
            p.wait(timeout=max(1.0, args.timeout - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.perf_counter() - t0
    failed = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode != 0]
    if failed:
        tails = []
        for f in logs:
            f.seek(0)
            tails.append(f.read()[-2500:])
        why = f"(process, exit code): {failed}; -9 = killed after --timeout {args.timeout:g}s"
        sys.exit(f"error: {config} failed {why}:\n" + "\n".join(tails))
    for f in logs:
        f.close()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    log = (run_dir / "train.log").read_text()
    averaging = sum(float(s) for s in re.findall(r"([\d.]+)s in (?:averaging|merging)", log))
    rounds = metrics.get("sync_rounds", 0)
    scores = evaluate(str(run_dir / "vectors.bin"))
    return {
        "words_per_sec": metrics["words_per_sec"],
        "bytes_per_round": metrics.get("sync_bytes", 0) / rounds if rounds else 0.0,
        "rounds": rounds,
        "merge": metrics.get("sync_merge", ""),
        "averaging_s": averaging,
        "wall_s": wall,
        "vocab": metrics.get("vocab_size"),
        # None or nan when every question or pair is out of the vocabulary (a corpus without these words)
        "analogy": float("nan") if scores.get("analogy@30k") is None else scores["analogy@30k"],
        "ws353": float("nan") if scores.get("ws353") is None else scores["ws353"],
    }


def probe_worker() -> None:
    """Under torchrun: time gloo all-reduces (SUM) of a few sizes; rank 0 prints one JSON line."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    out = {}
    for size in PROBE_SIZES:
        t = torch.ones(size // 4)
        for _ in range(2):  # warm the connections and buffers
            dist.all_reduce(t)
        reps = max(3, min(50, (64 << 20) // size))
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(reps):
            dist.all_reduce(t)
        out[size] = (time.perf_counter() - t0) / reps
    if dist.get_rank() == 0:
        print("PROBE " + json.dumps(out), flush=True)
    dist.destroy_process_group()


def probe_allreduce(args: argparse.Namespace) -> dict[int, float]:
    """Seconds per 2-rank gloo all-reduce over localhost, by message bytes."""
    cmd = [*TORCHRUN, "--standalone", "--nproc_per_node=2", __file__, "--probe-worker"]
    print("$ " + shlex.join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=args.timeout, cwd=ROOT)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE ")]
    if proc.returncode or not line:
        sys.exit(f"error: the all-reduce probe failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return {int(k): v for k, v in json.loads(line[0][6:]).items()}


def print_probe(times: dict[int, float]) -> None:
    """Latency (the smallest message) and bandwidth (the largest): for W = 2 a ring sends 2(W-1)/W = 1 x the bytes per rank."""
    print("\ngloo all-reduce (SUM, float32), 2 ranks on localhost:")
    print("| bytes | ms per all-reduce | GB/s sent per rank |")
    print("|---|---|---|")
    for size, sec in times.items():
        print(f"| {size:,} | {sec * 1e3:.3f} | {size / sec / 1e9:.3f} |")


def print_table(rows: dict[str, dict], args: argparse.Namespace) -> None:
    """One markdown table, a row per configuration, ratios to the single process."""
    base = rows.get("single")
    print(
        f"\ncorpus {args.corpus.name}, max_tokens {args.max_tokens or 'all'}, epochs {args.epochs}, dim {args.dim}, "
        f"seed {args.seed}, vocab {next(iter(rows.values()))['vocab']}, overrides {' '.join(args.overrides) or '(none)'}"
    )
    print("| config | merge | words/s (global) | ratio to single | bytes per round | rounds | merging s | wall s | analogy@30k | WS353 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    names = {"single": "1 process x 2 threads", "torchrun": "torchrun 2 x 1 thread", "2nodes": "2 simulated nodes x 1 thread",
             "average": "torchrun 2 x 1 thread, dist.merge=average"}  # fmt: skip
    for config, r in rows.items():
        ratio = f"{r['words_per_sec'] / base['words_per_sec']:.2f}x" if base else "-"
        print(
            f"| {names[config]} | {r['merge'] or '-'} | {r['words_per_sec']:,.0f} | {ratio} | "
            f"{r['bytes_per_round'] / 2**20:.2f} MB | {r['rounds']} | "
            f"{r['averaging_s']:.1f} | {r['wall_s']:.1f} | {r['analogy']:.3f} | {r['ws353']:.3f} |"
        )


def project(args: argparse.Namespace) -> list[dict]:
    """Print and return the scaling model's table (w2v/scaling_model.py): global words/s and bytes per
    round against nodes, links and averaging schedule."""
    round_words = args.round_words
    t_compute = round_words / args.node_wps
    print(
        f"\nscaling model: V={args.vocab:,} x d={args.proj_dim} (2 float32 tables, {2 * args.vocab * args.proj_dim * 4 / 1e9:.1f} GB), "
        f"{args.node_wps:,.0f} words/s per node, {round_words:,} words per rank per round ({t_compute * 1e3:.0f} ms of compute), "
        f"{args.epoch_words:,} words per epoch; no overlap of compute and averaging"
    )
    print("| nodes | link | schedule | rows per round (mean) | GB sent per rank per round | comm s per round | efficiency | words/s |")
    print("|---|---|---|---|---|---|---|---|")
    rows = project_nodes(args.nodes, args.vocab, args.proj_dim, args.node_wps, round_words, args.epoch_words, args.hot_rows, LINKS)
    for r in rows:
        print(
            f"| {r['nodes']} | {r['link']} | {r['schedule']} | {r['rows_per_round']:,.0f} | {r['gb_sent_per_rank']:.3f} | "
            f"{r['comm_s']:.3f} | {r['efficiency']:.0%} | {r['words_per_sec']:,.0f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=WIKI8)
    parser.add_argument("--max-tokens", type=int, default=2_000_000, help="the corpus prefix (default 2M tokens)")
    parser.add_argument("--full", action="store_true", help="all of the corpus (overrides --max-tokens)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=",".join(CONFIGS), help=f"configurations to run, of {','.join(CONFIGS)}")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one configuration may take before it counts as failed")
    parser.add_argument("--project", action="store_true", help="print the scaling model's projection only (no training)")
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 8, 64], help="--project: node counts")
    parser.add_argument("--vocab", type=int, default=2_000_000, help="--project: table rows")
    parser.add_argument("--proj-dim", type=int, default=300, help="--project: vector size")
    parser.add_argument("--node-wps", type=float, default=1_000_000, help="--project: one node's words/s at --proj-dim")
    parser.add_argument("--round-words", type=int, default=8 * 65536, help="--project: sync_blocks x block_tokens")
    parser.add_argument("--epoch-words", type=int, default=10_000_000_000, help="--project: corpus words per epoch")
    parser.add_argument("--hot-rows", type=int, default=4096, help="--project: dist.hot_rows of the banded schedule")
    parser.add_argument("--json", type=Path, help="results file (default: bench/results/distributed.json, or distributed_project.json)")
    parser.add_argument("--probe-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides for every configuration (after --)")
    args = parser.parse_args()
    if args.probe_worker:
        return probe_worker()
    if args.project:
        rows = project(args)
        write_results(args.json or RESULTS / "distributed_project.json", settings_of(args, skip=("json", "probe_worker")), rows)
        return
    if args.full:
        args.max_tokens = None
    configs = args.only.split(",")
    if bad := [c for c in configs if c not in CONFIGS]:
        sys.exit(f"error: unknown configuration {bad}: use --only with some of {','.join(CONFIGS)}")
    if not args.corpus.exists():
        sys.exit(f"error: corpus {args.corpus} not found; pass --corpus /path/to/text8-style.txt(.gz)")
    probe = probe_allreduce(args)
    print_probe(probe)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="w2v-bench-dist-") as tmp:
        for config in configs:
            rows[config] = run_config(config, args, Path(tmp))
    print_table(rows, args)
    write_results(args.json or RESULTS / "distributed.json", settings_of(args, skip=("json", "probe_worker")), rows,
                  allreduce_s_by_bytes=probe)  # fmt: skip


if __name__ == "__main__":
    main()
