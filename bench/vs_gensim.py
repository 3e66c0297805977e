"""w2v against gensim's Word2Vec in one run, same corpus, model and settings.

    python bench/vs_gensim.py --epochs 1                       # wiki8, skip-gram, negative sampling, 2 threads
    python bench/vs_gensim.py --epochs 1 --max-tokens 5000000  # a quick prefix
    python bench/vs_gensim.py --model cbow                     # CBOW (gensim's default model), mean of contexts
    python bench/vs_gensim.py --model sg --hs --negatives 0    # pure hierarchical softmax
    python bench/vs_gensim.py --model fasttext --max-tokens 1000000   # gensim FastText(sg=1) vs subwords.enabled=true
    taskset -c 0 python bench/vs_gensim.py --threads 1        # one pinned core
    python bench/vs_gensim.py --epochs 1 --rounds 3            # each system 3 times, in turn: best speed, mean scores
    python bench/vs_gensim.py --model sg --hs --negatives 0 --systems w2v,w2v:batch_windows=true --rounds 3   # an A/B

Three systems by default: w2v, gensim in its iterator mode (in-memory sentences), and gensim's
``corpus_file`` mode (each worker thread reads its own part of a file holding the same tokens).
A system ``w2v:KEY=VALUE[:KEY=VALUE...]`` is w2v with those settings too: with ``--rounds`` it times an option
against the plain run in turn, on the same machine state.

Each system trains in its own subprocess (so peak RSS is its own), on the same token stream
(w2v's reader and tokenizer feed gensim too), with the same hyperparameters and threads. Both
vector sets are then scored by the same evaluator (gensim's ``evaluate_word_analogies`` and
``evaluate_word_pairs``), and one table is printed with a row per system and a ratio row.

On a shared machine one run can lose half its speed to a neighbour. ``--rounds N`` trains every
system N times, the systems in turn; each speed is then the best round's, with the median beside it,
and each score the mean of the rounds (``common.summarize_rounds``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    WIKI8,
    add_json_argument,
    compose_train,
    corpus_file_line_tokens,
    evaluate,
    expected_kept_words,
    paired_ratios,
    settings_of,
    split_lines,
    summarize_rounds,
    write_results,
)


def corpus_cfg(args: argparse.Namespace):
    from omegaconf import OmegaConf

    from w2v.config import CorpusConfig

    cfg = OmegaConf.structured(CorpusConfig(kind="text8", path=str(args.corpus), lowercase=False, token_pattern=None))
    cfg.max_tokens = args.max_tokens
    return cfg


def run_w2v(args: argparse.Namespace, out: Path) -> dict:
    from w2v.train.trainer import train

    overrides = [
        "corpus=text8",
        f"corpus.path={args.corpus}",
        f"epochs={args.epochs}",
        f"dim={args.dim}",
        f"window={args.window}",
        f"negatives={args.negatives}",
        f"model={args.model}",
        f"hs={str(args.hs).lower()}",
        f"lr={args.lr}",
        f"seed={args.seed}",
        f"sample={args.sample}",
        f"min_count={args.min_count}",
        f"threads={args.threads}",
        "eval=none",
        "device=cpu",
        f"engine={args.engine}",
        f"batch_size={args.batch_size if args.batch_size else 'null'}",
        "checkpoint_every_minutes=0",
        "heldout=0",  # gensim trains on every sentence: so does w2v here
        f"shared_negatives={args.shared_negatives}",
        f"batch_windows={args.batch_windows}",
    ]
    if args.max_tokens:
        overrides.append(f"corpus.max_tokens={args.max_tokens}")
    if args.hs_private_nodes is not None:
        overrides.append(f"hs_private_nodes={args.hs_private_nodes}")
    if args.model == "fasttext":  # configs/model/fasttext.yaml: skip-gram with character n-grams
        overrides += [f"subwords.min_n={args.min_n}", f"subwords.max_n={args.max_n}", f"subwords.bucket={args.bucket}"]
    overrides += args.set  # last, so they win
    cfg = compose_train(overrides)
    t0 = time.perf_counter()
    metrics = train(cfg, out / "w2v_run")
    total = time.perf_counter() - t0
    words = metrics["corpus_tokens"] * args.epochs
    return {
        "train_wps": metrics["words_per_sec"],
        "e2e_wps": words / total,
        "seconds": total,
        "vectors": str(out / "w2v_run" / ("fasttext.bin" if args.model == "fasttext" else "vectors.bin")),
    }


class _Sentences:
    """A restartable iterable of token lists for gensim, from w2v's own reader."""

    def __init__(self, ccfg):
        self.ccfg = ccfg

    def __iter__(self):
        from w2v.data.corpus import iter_sentences

        n = 0
        for sentence in iter_sentences(self.ccfg):
            if self.ccfg.max_tokens is not None and n + len(sentence) > self.ccfg.max_tokens:
                sentence = sentence[: self.ccfg.max_tokens - n]
            if not sentence:
                break
            n += len(sentence)
            yield sentence


def write_corpus_file(args: argparse.Namespace, path: Path, line_tokens: int) -> Path:
    """The same token stream for gensim's ``corpus_file`` mode, each sentence as lines of at most ``line_tokens``
    (written before timing; :func:`common.corpus_file_line_tokens` says why not one line per sentence)."""
    with open(path, "w", encoding="utf-8") as f:
        for sentence in _Sentences(corpus_cfg(args)):
            for line in split_lines(sentence, line_tokens):
                f.write(" ".join(line) + "\n")
    return path


def run_gensim(args: argparse.Namespace, out: Path, corpus_file: bool = False) -> dict:
    """gensim on the same tokens: in-memory sentences (its iterator mode), or ``corpus_file`` mode, where
    each worker thread reads its own part of a LineSentence file (its fastest mode)."""
    from gensim.models import FastText, Word2Vec

    sentences = _Sentences(corpus_cfg(args))
    line_tokens = None
    if corpus_file:
        line_tokens = args.file_line_tokens
        if not line_tokens:  # count the tokens by gensim's rules first (untimed) for lines it trains whole
            probe = Word2Vec(min_count=args.min_count, sample=args.sample)
            probe.build_vocab(corpus_iterable=sentences)
            line_tokens = corpus_file_line_tokens(expected_kept_words(probe.wv) / probe.corpus_total_words)
            del probe
        source = {"corpus_file": str(write_corpus_file(args, out / "gensim_corpus.txt", line_tokens))}
    else:
        source = {"corpus_iterable": sentences}
    t0 = time.perf_counter()
    fasttext = args.model == "fasttext"
    extra = {"min_n": args.min_n, "max_n": args.max_n, "bucket": args.bucket} if fasttext else {}
    model = (FastText if fasttext else Word2Vec)(
        **extra,
        vector_size=args.dim,
        window=args.window,
        negative=args.negatives,
        sample=args.sample,
        min_count=args.min_count,
        sg=int(args.model != "cbow"),
        hs=int(args.hs),
        cbow_mean=1,
        workers=args.threads,
        alpha=args.lr,
        min_alpha=1e-4,
        seed=args.seed,
    )
    model.build_vocab(**source)
    t1 = time.perf_counter()
    if corpus_file:
        trained, _ = model.train(**source, total_words=model.corpus_total_words, epochs=args.epochs)
    else:
        trained, _ = model.train(**source, total_examples=model.corpus_count, epochs=args.epochs)
    t2 = time.perf_counter()
    # What it trained against what its vocabulary says an epoch holds: about 1.0 when no word is dropped.
    expected = expected_kept_words(model.wv) * args.epochs
    path = out / ("gensim_file.bin" if corpus_file else "gensim.bin")
    if fasttext:  # the full model, so the evaluation composes unseen words from its n-grams too
        from gensim.models.fasttext import save_facebook_model

        save_facebook_model(model, str(path))
    else:
        model.wv.save_word2vec_format(str(path), binary=True)
    words = model.corpus_total_words * args.epochs
    return {
        "train_wps": words / (t2 - t1),
        "e2e_wps": words / (t2 - t0),
        "seconds": t2 - t0,
        "vectors": str(path),
        "trained_words": int(trained),
        "trained_fraction": trained / expected,
        "line_tokens": line_tokens,
    }


def is_w2v(system: str) -> bool:
    """``w2v`` or ``w2v:KEY=VALUE[:KEY=VALUE...]`` (w2v with those settings)."""
    return system.split(":")[0] == "w2v"


def worker(system: str, args: argparse.Namespace) -> None:
    out = Path(args.out)
    if is_w2v(system):
        args.set = args.set + system.split(":")[1:]  # w2v:KEY=VALUE:...: this system's own settings, last so they win
        out = out / system.replace(":", "_").replace("=", "-").replace("/", "-")
        out.mkdir()
        result = run_w2v(args, out)
    else:
        result = run_gensim(args, out, corpus_file=system == "gensim_file")
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=WIKI8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negatives", type=int, default=5, help="0 with --hs: pure hierarchical softmax")
    parser.add_argument(
        "--model", choices=("sg", "cbow", "fasttext"), default="sg", help="skip-gram, CBOW (cbow_mean=1), or skip-gram with n-grams"
    )
    parser.add_argument("--min-n", type=int, default=3, help="--model fasttext: shortest character n-gram")
    parser.add_argument("--max-n", type=int, default=6, help="--model fasttext: longest character n-gram")
    parser.add_argument("--bucket", type=int, default=2_000_000, help="--model fasttext: n-gram hash buckets")
    parser.add_argument("--hs", action="store_true", help="hierarchical softmax (with --negatives N > 0, both, as gensim)")
    parser.add_argument("--lr", type=float, default=0.025, help="starting learning rate (gensim's alpha)")
    parser.add_argument("--seed", type=int, default=1, help="seed of both systems (rerun with others to see the spread)")
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", default="auto", help="w2v engine: auto, hogwild, numba or torch")
    parser.add_argument("--batch-size", type=int, default=None, help="pairs per update (default: the engine's)")
    lever = {"nargs": "?", "const": "true", "default": "null", "choices": ("true", "false", "null")}
    parser.add_argument(
        "--shared-negatives", **lever, help="w2v: one draw of negatives per skip-gram window (bare: true; default null, the config's auto)"
    )
    parser.add_argument("--batch-windows", **lever, help="w2v, skip-gram: one batched step per window (HS, or shared negatives; as above)")
    parser.add_argument("--hs-private-nodes", type=int, default=None, help="w2v with --hs: hs_private_nodes (default: the config's)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other w2v setting, as train.py takes it (repeat: --set block_tokens=8192 --set chunk_tokens=262144)",
    )
    parser.add_argument(
        "--file-line-tokens",
        type=int,
        default=0,
        help="gensim_file: tokens per line of its corpus file (default 0: the longest lines it trains whole, see bench/common.py)",
    )
    parser.add_argument("--systems", default="w2v,gensim,gensim_file", help="w2v, gensim (iterator mode), gensim_file (corpus_file mode)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="train every system this many times, in turn: speeds are the best round, scores the mean"
    )
    add_json_argument(parser, "vs_gensim")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args)
    if not args.corpus.exists():
        sys.exit(f"error: corpus {args.corpus} not found; pass --corpus /path/to/text8-style.txt(.gz)")
    if args.file_line_tokens < 0:
        sys.exit(f"error: invalid value --file-line-tokens {args.file_line_tokens}: must be >= 0 (0: chosen by the corpus)")
    if args.rounds < 1:
        sys.exit(f"error: invalid value --rounds {args.rounds}: must be >= 1")
    systems = args.systems.split(",")
    unknown = [s for s in systems if s not in ("gensim", "gensim_file") and not is_w2v(s)]
    if unknown:
        sys.exit(f"error: unknown system {unknown[0]!r}: use w2v, w2v:KEY=VALUE[:KEY=VALUE...], gensim or gensim_file")
    runs: dict[str, list[dict]] = {system: [] for system in systems}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):  # the systems in turn, so a slow spell of the machine hits each alike
            out = Path(tmp) / f"round{n}"
            out.mkdir()
            for system in systems:
                cmd = [sys.executable, __file__, "--worker", system, "--out", str(out)] + sys.argv[1:]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode or not line:
                    sys.exit(f"error: {system} run failed:\n{proc.stderr[-3000:]}")
                runs[system].append(json.loads(line[0][7:]))
        # Scored only once every run is done: a child process starts with its parent's peak RSS (Linux keeps the
        # high-water mark across fork and exec), so vectors loaded here before a run would count in its peak RSS.
        for system_runs in runs.values():
            for row in system_runs:
                row.update(evaluate(row["vectors"]))
        rows = {system: summarize_rounds(runs[system]) for system in systems}
    if args.rounds > 1:  # each w2v system against the others, round by round (common.paired_ratios)
        for name in filter(is_w2v, systems):
            for ref in (s for s in systems if s != name):
                ratios = paired_ratios(runs[name], runs[ref])
                rows[name][f"vs_{ref}_rounds"], rows[name][f"vs_{ref}_paired"] = ratios, statistics.median(ratios)
    print_table(rows, args)
    write_results(args.json, settings_of(args, skip=("worker", "out", "json")), rows)


def print_table(rows: dict, args: argparse.Namespace) -> None:
    median = ["train_wps_median"] if args.rounds > 1 else []
    cols = ["train_wps", *median, "e2e_wps", "peak_rss_mb", "analogy@30k", "analogy@300k", "ws353", "simlex", "men", "trained_fraction"]
    if args.model == "fasttext":
        cols += [f"{key}{part}" for key in ("ws353", "simlex", "men") for part in ("_oov_pct", "+oov", "_cov_pct")]
    for r in rows.values():
        for c in cols:
            r.setdefault(c, float("nan"))
    fmt = {"train_wps": "{:,.0f}", "train_wps_median": "{:,.0f}", "e2e_wps": "{:,.0f}", "peak_rss_mb": "{:,.0f}"}
    print(
        f"\nmodel {args.model}{' hs' if args.hs else ''}, lr {args.lr}, seed {args.seed}, "
        f"corpus {args.corpus.name}, max_tokens {args.max_tokens}, epochs {args.epochs}, dim {args.dim}, window {args.window}, "
        f"negatives {args.negatives}, sample {args.sample}, min_count {args.min_count}, threads {args.threads}"
        + (f", best of {args.rounds} rounds (scores: their mean)" if args.rounds > 1 else "")
    )
    print("| system | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(fmt.get(c, "{:.3f}").format(r[c]) for c in cols) + " |")
    for name, r in rows.items():  # trained_fraction: gensim's trained words over its vocabulary's expectation
        if r["trained_fraction"] < 0.98:
            share = r["trained_fraction"]
            print(f"warning: {name} trained {share:.1%} of the words its vocabulary expects: its words/s counts words it skipped")
    mine = [name for name in rows if is_w2v(name)]
    for ref in ("w2v", "gensim", "gensim_file"):
        for name in mine:
            if ref in rows and name != ref:
                a, b = rows[name], rows[ref]
                cells = [f"{a[c] / b[c]:.2f}x" if c in fmt else f"{a[c] - b[c]:+.3f}" for c in cols]
                print(f"| {name} vs {ref} | " + " | ".join(cells) + " |")
    for name in mine:  # --rounds: the median of the rounds' own ratios, and each round's
        for ref in (r for r in rows if f"vs_{r}_paired" in rows[name]):
            each = ", ".join(f"{x:.2f}x" for x in rows[name][f"vs_{ref}_rounds"])
            print(f"paired rounds: {name} vs {ref}: {rows[name][f'vs_{ref}_paired']:.2f}x (round by round: {each})")


if __name__ == "__main__":
    main()
