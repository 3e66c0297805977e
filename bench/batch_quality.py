"""Quality against batch size for the batched (torch) engine, with and without ``max_row_updates``.

    python bench/batch_quality.py --max-tokens 3000000 --batch-sizes 4096,65536,262144 --caps 0,16

Large batches are what a GPU needs. Summing thousands of updates of a frequent word in one step
can overshoot where word2vec applies them one after another, so this trains the same corpus
prefix at each batch size (and each cap) and prints analogy and WordSim353 side by side, with the
per-pair CPU kernel as the reference row. The torch engine runs on CPU here, or on CUDA with --device cuda.
The rows also go to ``--json`` (default ``bench/results/batch_quality.json``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import WIKI8, add_json_argument, evaluate, settings_of, train_run, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=WIKI8)
    parser.add_argument("--max-tokens", type=int, default=3_000_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-sizes", default="4096,65536,262144")
    parser.add_argument("--caps", default="0,16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    add_json_argument(parser, "batch_quality")
    args = parser.parse_args()
    base = [
        "corpus=text8",
        f"corpus.path={args.corpus}",
        f"corpus.max_tokens={args.max_tokens}",
        f"epochs={args.epochs}",
        "eval=none",
        "checkpoint_every_minutes=0",
        "log_every=1000",
        f"threads={args.threads}",
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = [("numba kernel (reference)", ["engine=numba", "device=cpu"])]
        for bs in map(int, args.batch_sizes.split(",")):
            for cap in map(int, args.caps.split(",")):
                configs.append(
                    (
                        f"torch batch {bs} cap {cap}",
                        [
                            "engine=torch",
                            f"device={args.device}",
                            f"batch_size={bs}",
                            f"block_tokens={max(65536, bs // 2)}",
                            f"max_row_updates={cap}",
                        ],
                    )
                )
        for name, extra in configs:
            out = Path(tmp) / str(len(rows))
            m = train_run(base + extra, out)
            s = evaluate(out / "vectors.bin")
            rows.append((name, m["epoch_loss"][-1], s["analogy@30k"], s["ws353"], m["words_per_sec"]))
            print(f"| {name} | {rows[-1][1]:.4f} | {rows[-1][2]:.3f} | {rows[-1][3]:.3f} | {rows[-1][4]:,.0f} |", flush=True)
    print("\n| engine | final loss | analogy@30k | ws353 | words/s |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.4f} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:,.0f} |")
    keys = ("run", "final_loss", "analogy@30k", "ws353", "words_per_sec")
    write_results(args.json, settings_of(args), [dict(zip(keys, r)) for r in rows])


if __name__ == "__main__":
    main()
