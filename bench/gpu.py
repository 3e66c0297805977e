"""CUDA check and timing in one call: CUDA against CPU on a small corpus, then words/s on wiki8.

    python bench/gpu.py                     # needs a CUDA GPU and ../shared/data/wiki8
    python bench/gpu.py --quick             # smaller prefixes (a smoke test)

1. Correctness: the same run (wiki8 prefix, fixed seed) with the torch engine on CPU and on CUDA.
   Their per-epoch losses must agree within --loss-tol (relative); analogy accuracy within noise.
2. Speed: one epoch of wiki8, then of a larger stream (wiki8 repeated --repeat times), on CUDA
   with GPU-sized batches; prints words/s and the analogy/WordSim353 scores of each run.
Everything runs in this one process and ends well within 10 minutes on one H200.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WIKI8 = ROOT.parent / "shared" / "data" / "wiki8" / "wiki8.txt.gz"


def run(overrides: list[str], out: Path) -> dict:
    from hydra import compose, initialize_config_dir

    from w2v.config import register_configs
    from w2v.train.trainer import train

    register_configs()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return train(cfg, out)


def scores(run_dir: Path) -> dict:
    import logging

    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.ERROR)
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    return {
        "analogy@30k": kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)[0],
        "ws353": kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1].statistic,
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=WIKI8)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=262144)
    parser.add_argument("--block-tokens", type=int, default=1 << 20)
    parser.add_argument("--loss-tol", type=float, default=0.02)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA device; run this on a GPU machine")
    if not args.corpus.exists():
        sys.exit(f"error: {args.corpus} not found; pass --corpus")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    base = ["corpus=text8", "eval=none", "checkpoint_every_minutes=0", "log_every=100", "seed=1"]
    small = 300_000 if args.quick else 2_000_000
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # 1. CUDA against CPU, same engine and settings.
        check = base + [f"corpus.path={args.corpus}", f"corpus.max_tokens={small}", "epochs=2", "engine=torch", "batch_size=4096"]
        t = time.perf_counter()
        cpu = run(check + ["device=cpu"], tmp / "cpu")
        t_cpu = time.perf_counter() - t
        t = time.perf_counter()
        gpu = run(check + ["device=cuda"], tmp / "cuda")
        t_gpu = time.perf_counter() - t
        s_cpu, s_gpu = scores(tmp / "cpu"), scores(tmp / "cuda")
        rel = max(abs(a - b) / abs(a) for a, b in zip(cpu["epoch_loss"], gpu["epoch_loss"]))
        print(
            f"check ({small} tokens, 2 epochs, batch 4096): cpu loss {cpu['epoch_loss']} ({t_cpu:.1f}s), "
            f"cuda loss {gpu['epoch_loss']} ({t_gpu:.1f}s), max rel diff {rel:.4f} (tol {args.loss_tol})"
        )
        print(f"check scores: cpu {s_cpu}  cuda {s_gpu}")
        ok &= rel <= args.loss_tol
        # 2. Speed on wiki8 and on a longer stream.
        big = tmp / "repeated.txt"
        with gzip.open(args.corpus, "rb") as src, open(big, "wb") as dst:
            data = src.read()
            for _ in range(args.repeat):
                dst.write(data + b" ")
        speed = base + ["device=cuda", "engine=torch", "epochs=1", f"batch_size={args.batch_size}", f"block_tokens={args.block_tokens}"]
        for name, path, extra in [("wiki8", args.corpus, []), (f"wiki8 x{args.repeat}", big, [])]:
            if args.quick:
                extra = [f"corpus.max_tokens={small * 2}"]
            m = run(speed + [f"corpus.path={path}"] + extra, tmp / "speed")
            print(
                f"speed {name}: {m['words_per_sec'] / 1e6:.2f}M words/s training, {m['corpus_tokens']} tokens, "
                f"vocab pass {m['vocab_seconds']:.1f}s, train {m['train_seconds']:.1f}s, scores {scores(tmp / 'speed')}",
                flush=True,
            )
            shutil.rmtree(tmp / "speed")
    print("RESULT", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
