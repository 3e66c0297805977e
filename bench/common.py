"""What the bench scripts share: the repository's paths, one training run with the real config tree,
the one evaluator every table is scored with, and the results file each script writes.

The scripts import it as ``from common import ...``: ``python bench/x.py`` puts ``bench/`` first on
``sys.path``, and tests load a script the same way (``tests/conftest.py:load_script``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The scripts measure this checkout's w2v, whichever copy pip installed: the repository goes first.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_DATA = ROOT.parent / "shared" / "data"
WIKI8 = SHARED_DATA / "wiki8" / "wiki8.txt.gz"  # text8-style Wikipedia, 17M tokens: the default corpus
RESULTS = ROOT / "bench" / "results"  # where every script writes its machine-readable results by default
# Launcher variables a child process must not inherit: a bench started under torchrun would hand them on.
LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "HYDRA_FULL_ERROR")


def compose_train(overrides: Sequence[str]):
    """configs/train.yaml composed with command-line style ``overrides``, as ``python train.py`` composes it."""
    from hydra import compose, initialize_config_dir

    from w2v.config import register_configs

    register_configs()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3", job_name="bench"):
        return compose("train", overrides=list(overrides))


def train_run(overrides: Sequence[str], out: Path) -> dict:
    """Train once in this process with ``overrides`` into run directory ``out``; returns metrics.json's content."""
    from w2v.train.trainer import train

    return train(compose_train(overrides), out)


def evaluate(path: str | Path) -> dict:
    """Score one vector file with w2v's evaluator: the same code for every system, whose counts and
    correlations equal gensim's ``evaluate_word_analogies`` / ``evaluate_word_pairs`` (see tests).

    Keys: ``analogy@30k``, ``analogy@300k`` (3CosAdd), and Spearman ``ws353``, ``simlex``, ``men``
    (nan when the file is absent: MEN lives in ../shared). A fastText ``.bin`` adds, per similarity set,
    ``<key>_oov_pct``, ``<key>+oov`` (unseen words composed from n-grams) and ``<key>_cov_pct``.
    """
    from w2v.evaluation.analogy import evaluate_analogies, read_questions
    from w2v.evaluation.data import default_analogies, similarity_source
    from w2v.evaluation.similarity import evaluate_pairs, evaluate_pairs_composed, read_pairs
    from w2v.vectors import load_vectors

    vecs = load_vectors(str(path))
    questions = read_questions(default_analogies())
    res = {}
    for cut in (30000, 300000):
        res[f"analogy@{cut // 1000}k"] = evaluate_analogies(vecs, questions, cut, methods=("3cosadd",)).accuracy("3cosadd")
    for key, name in (("ws353", "wordsim353"), ("simlex", "simlex999"), ("men", "men")):
        try:
            _, file, _ = similarity_source(name)
            pairs = read_pairs(file, name)
            res[key] = evaluate_pairs(vecs, pairs).spearman
            if vecs.oov is not None:  # a fastText model: also with unseen words composed, and the OOV rate
                composed = evaluate_pairs_composed(vecs, pairs)
                res[f"{key}_oov_pct"] = evaluate_pairs(vecs, pairs).oov_pct
                res[f"{key}+oov"] = composed.spearman
                # Rare Words-style coverage: the share of pairs scored once unseen words are composed.
                res[f"{key}_cov_pct"] = 100.0 - composed.oov_pct
        except Exception:  # MEN lives in ../shared and may be absent
            res[key] = float("nan")
    return res


def clean_env(extra: Sequence[str] = ()) -> dict[str, str]:
    """This environment without torchrun's variables (and ``extra`` names), for a child process."""
    drop = set(LAUNCHER_ENV) | set(extra)
    return {k: v for k, v in os.environ.items() if k not in drop}


def add_json_argument(parser: argparse.ArgumentParser, name: str) -> None:
    """``--json PATH``: where the script writes its results, ``bench/results/<name>.json`` by default."""
    default = RESULTS / f"{name}.json"
    parser.add_argument("--json", type=Path, default=default, help=f"write the settings and results here (default: {default})")


def settings_of(args: argparse.Namespace, skip: Sequence[str] = ("json",)) -> dict:
    """The command-line settings of a run, for its results file."""
    return {k: v for k, v in vars(args).items() if k not in skip}


def write_results(path: Path, settings: dict, rows, **extra) -> Path:
    """Write ``{"script", "command", "settings", "rows", **extra}`` to ``path`` (parents created).

    ``rows`` is the script's table (a dict keyed by row name, or a list of row dicts). Paths become
    strings; a missing score stays ``NaN``, as Python's ``json`` writes and reads it.
    """
    payload = {"script": Path(sys.argv[0]).name, "command": " ".join(sys.argv), "settings": settings, "rows": rows, **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"results: {path}", flush=True)
    return path


SPEED_KEYS = ("train_wps", "e2e_wps")  # higher is better: the best round is the least disturbed one


def paired_ratios(rounds: Sequence[dict], ref_rounds: Sequence[dict]) -> list[float]:
    """Training words/s of ``rounds`` over ``ref_rounds``', round by round (two runs' rounds, in the order they
    ran). A round's runs are minutes apart, so a slow spell of the machine tends to fall on both, where the
    best of one run's rounds and the best of the other's may come from different spells: the median of these
    ratios is the steadier reading of a speed-up on a shared machine."""
    return [a["train_wps"] / b["train_wps"] for a, b in zip(rounds, ref_rounds)]


def summarize_rounds(rounds: Sequence[dict]) -> dict:
    """One system's row from its runs of the same command, taken in turn with the other systems' runs.

    On a shared machine a run can lose half its speed to a neighbour, so each speed is the best round
    (``train_wps``, ``e2e_wps``), with the median and every round beside it (``train_wps_median``,
    ``train_wps_rounds``). Scores differ between rounds only by Hogwild's thread interleaving: each is
    their mean. Peak RSS is the largest round's, ``seconds`` and ``vectors`` are the fastest round's.
    One round is returned as it is.
    """
    if len(rounds) == 1:
        return dict(rounds[0])
    row = dict(max(rounds, key=lambda r: r["train_wps"]))
    scores = [k for k, v in row.items() if isinstance(v, float) and k not in (*SPEED_KEYS, "seconds", "peak_rss_mb")]
    for key in scores:
        row[key] = statistics.fmean(r[key] for r in rounds)
    for key in SPEED_KEYS:
        values = [r[key] for r in rounds]
        row[key], row[f"{key}_median"], row[f"{key}_rounds"] = max(values), statistics.median(values), values
    row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rounds)
    row["rounds"] = len(rounds)
    return row


# gensim's cap on the words one job trains (MAX_SENTENCE_LEN in word2vec_corpusfile.pyx, batch_words in its iterator
# mode). corpus_file mode reads lines into a job until it holds more than this many raw words, then trains the job's
# words that survive min_count and subsampling only up to this many and drops the rest of the job unseen
# (prepare_c_structures_for_batch: "break  # TODO: log warning, tally overflow?"), while its progress and its
# words/s count every raw word. Lines of 10,000 tokens, as text8's sentences are, lose about 29% of the kept words
# on wiki8 at sample 1e-3: it trains faster and worse than its iterator mode for that reason alone.
GENSIM_MAX_WORDS = 10_000


def expected_kept_words(wv) -> float:
    """The words an epoch trains by gensim's own vocabulary (``KeyedVectors`` after ``build_vocab``): each
    word's count times its subsampling keep probability, words under min_count left out. gensim keeps a word when
    a uniform 32-bit draw is at most its ``sample_int``, so with probability ``(sample_int + 1) / 2**32``."""
    counts, keep = wv.expandos["count"], wv.expandos["sample_int"]
    return float(sum(int(c) * min(1.0, (int(k) + 1) / 2**32) for c, k in zip(counts, keep)))


def corpus_file_line_tokens(kept_fraction: float) -> int:
    """Tokens per line of a ``corpus_file`` that gensim trains whole: a job holds at most
    ``GENSIM_MAX_WORDS + line`` raw words, so with ``kept_fraction`` of the raw words surviving min_count and
    subsampling, lines of up to ``GENSIM_MAX_WORDS * (1 - f) / f`` keep every job under the cap; half of that
    leaves room for a stretch of text denser in kept words than the whole. At least 100 tokens (with nothing
    dropped, as at sample 0, a job still overflows by part of one line) and at most ``GENSIM_MAX_WORDS``."""
    if not 0.0 < kept_fraction <= 1.0:
        raise ValueError(f"kept_fraction must be in (0, 1], got {kept_fraction}")
    room = 0.5 * GENSIM_MAX_WORDS * (1.0 - kept_fraction) / kept_fraction
    return int(min(GENSIM_MAX_WORDS, max(100, room)))


def split_lines(sentence: Sequence[str], most: int) -> list[Sequence[str]]:
    """``sentence`` as consecutive lines of at most ``most`` tokens (windows do not cross them, as they do not
    cross a sentence's end)."""
    return [sentence[i : i + most] for i in range(0, len(sentence), most)]


TABLES = (8, 9, 10)  # positions of in_w, out_w, hs_w among _train_blocks' arguments
TOP_N = 25  # position of top_n (hs_private_nodes) among them
HOT, OUT_BASE = -7, -5  # positions of hot (private_rows) and out_base among them, counted from the end


def capture_chunks(args: argparse.Namespace) -> list[list]:
    """Train one epoch of a prefix (``args``: corpus, max_tokens, model, hs, chunks) with engine=hogwild and return
    copies of its first ``args.chunks`` kernel calls' arguments (``hogwild._train_blocks``), to time kernels on a
    run's own chunks (sharing.py, kernel_ab.py)."""
    import tempfile

    import numpy as np

    from w2v.engines import hogwild

    captured: list[list] = []
    real = hogwild._train_blocks

    def keep(*call):
        if len(captured) < args.chunks and len(call[1]):  # not the engine's empty warm-up call
            captured.append([np.array(a) if isinstance(a, np.ndarray) else a for a in call])
        return real(*call)

    hogwild._train_blocks = keep
    try:
        overrides = [
            "corpus=text8", f"corpus.path={args.corpus}", f"corpus.max_tokens={args.max_tokens}", f"model={args.model}",
            "epochs=1", "threads=2", "engine=hogwild", "eval=none", "heldout=0", "checkpoint_every_minutes=0",
        ]  # fmt: skip
        if args.model == "cbow":
            overrides.append("lr=0.05")
        if args.hs:
            overrides += ["hs=true", "negatives=0"]
        # The run's private_rows: the captured tables hold that many spare rows per thread, so a way may set any
        # hot <= it (bench/sharing.py); 0 gives the tables without spare rows.
        overrides.append(f"private_rows={getattr(args, 'capture_private_rows', 0)}")
        with tempfile.TemporaryDirectory() as tmp:
            train_run(overrides, Path(tmp) / "run")
    finally:
        hogwild._train_blocks = real
    return captured
