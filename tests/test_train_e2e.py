"""End to end: ``train(cfg)`` in-process on the Lee corpus, ``train.py`` as a user runs it (local
compressed files, globs, multirun), one-line errors for bad input, and `datasets` corpora offline."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from w2v.config import TrainConfig
from w2v.data.corpus import iter_sentences
from w2v.data.vocab import Vocab
from w2v.errors import W2VError
from w2v.train.trainer import train

RUN_FILES = ["vocab.tsv", "vectors.txt", "vectors.bin", "metrics.json", "checkpoint.pt", "train.log"]
# The batched torch update (w2v.models.word2vec.sgns_sgd_step), whatever engine "auto" picks on this machine.
TORCH_ENGINE = ["engine=torch"] if "engine" in TrainConfig.__dataclass_fields__ else []


def reference_counts(text: str) -> Counter:
    return Counter(re.findall(r"\w+(?:[-']\w+)*", text.lower()))


def vocab_counts(run_dir: Path) -> dict[str, int]:
    vocab = Vocab.load_tsv(run_dir / "vocab.tsv")
    return dict(zip(vocab.words, vocab.counts.tolist()))


def assert_clean_failure(proc, fragment: str, code: int = 2) -> None:
    """A user-facing failure: the exit code, the message on stderr, and no Python traceback."""
    assert proc.returncode == code, proc.stderr[-2000:]
    assert fragment in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]


# ---------------------------------------------------------------- train(cfg) on the Lee corpus


def test_loss_falls_on_lee(lee_run):
    _, metrics = lee_run
    losses = metrics["epoch_loss"]
    assert len(losses) == 3
    assert losses[0] > losses[1] > losses[2]
    assert losses[0] < 4.0 and losses[2] < 0.9 * losses[0]


def test_run_directory_holds_everything(lee_run):
    run_dir, metrics = lee_run
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "corpus.ids").exists()  # the encoded corpus is a cache, removed at the end
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["epoch_loss"] == metrics["epoch_loss"] and saved["final_loss"] == metrics["epoch_loss"][-1]
    assert saved["vocab_size"] == len(Vocab.load_tsv(run_dir / "vocab.tsv")) == 1799  # Lee at min_count=5
    assert saved["corpus_tokens"] == 60005 and saved["train_words"] == 50426 and saved["epochs"] == 3
    assert saved["words_per_sec"] > 0 and saved["pairs_per_sec"] > 0
    for key in ("vocab_seconds", "train_seconds", "total_seconds"):
        assert 0 < saved[key] < 600, key
    assert saved["total_seconds"] >= saved["train_seconds"]
    log = (run_dir / "train.log").read_text()
    assert "vocab: kept 1799 of" in log and "epoch 3/3" in log


def test_checkpoint_explains_itself(lee_run):
    run_dir, metrics = lee_run
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "vocab", "config", "progress"} <= set(state)
    n = metrics["vocab_size"]
    assert state["model"]["in_embed.weight"].shape == (n, 24) and state["model"]["out_embed.weight"].shape == (n, 24)
    assert state["vocab"]["words"] == Vocab.load_tsv(run_dir / "vocab.tsv").words and len(state["vocab"]["counts"]) == n
    assert state["config"]["dim"] == 24 and state["config"]["corpus"]["kind"] == "lee"
    progress = state["progress"]
    assert progress["done"] and progress["epoch"] == 3
    assert progress["words_done"] == 3 * metrics["train_words"]  # every in-vocabulary token, every epoch
    assert progress["epoch_losses"] == metrics["epoch_loss"]


def test_tensorboard_has_the_training_curves(lee_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = lee_run
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    assert {"train/loss", "train/lr", "train/words_per_sec", "train/epoch_loss"} <= set(events.Tags()["scalars"])
    lrs = [e.value for e in events.Scalars("train/lr")]
    assert len(lrs) >= 3  # at least one point per epoch: engine=hogwild logs each span chunk (Lee is one chunk)
    # word2vec's schedule: linear decay from lr towards min_lr over all words of all epochs.
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and 1e-4 <= lrs[-1] < lrs[0] <= torch.tensor(0.025).item()  # TensorBoard stores float32
    assert all(e.value > 0 for e in events.Scalars("train/words_per_sec"))


# ---------------------------------------------------------------- train(cfg) on small local corpora


def quick_run(compose_cfg, quick_overrides, path, run_dir, **extra):
    metrics = train(compose_cfg(quick_overrides(path, **extra)), run_dir)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return metrics, state["progress"]


def test_subsampling_and_dynamic_window_reach_the_training_stream(tmp_path, compose_cfg, write_corpus, synthetic_text, quick_overrides):
    text = synthetic_text(n_sentences=200, length=30)
    path = write_corpus("x.txt.gz", text)
    plain = {"sample": 0, "shrink_windows": False, "window": 4}
    _, base = quick_run(compose_cfg, quick_overrides, path, tmp_path / "base", **plain)
    assert vocab_counts(tmp_path / "base") == reference_counts(text)  # read from .gz, min_count=1
    _, sub = quick_run(compose_cfg, quick_overrides, path, tmp_path / "sub", **{**plain, "sample": 1e-2})
    _, shrink = quick_run(compose_cfg, quick_overrides, path, tmp_path / "shrink", **{**plain, "shrink_windows": True})
    assert sub["pairs_total"] < 0.8 * base["pairs_total"]
    assert shrink["pairs_total"] / base["pairs_total"] == pytest.approx(5 / 8, rel=0.05)
    assert sub["words_done"] == base["words_done"] == 200 * 30  # progress counts words before subsampling


def test_torch_update_lowers_the_loss(tmp_path, compose_cfg, write_corpus, synthetic_text, quick_overrides):
    path = write_corpus("c.txt", synthetic_text(n_sentences=300, length=30, seed=9))
    cfg = compose_cfg(quick_overrides(path, epochs=4, dim=32, window=3) + TORCH_ENGINE)
    losses = train(cfg, tmp_path / "run")["epoch_loss"]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]


def test_text8_line_is_cut_into_sentences_by_the_trainer(tmp_path, compose_cfg, write_corpus):
    words = [f"w{i % 37}" for i in range(2503)]
    path = write_corpus("text8.gz", " ".join(words))
    overrides = ["corpus=text8", f"corpus.path={path}", "corpus.max_sentence_length=1000", "eval=none", "epochs=1", "dim=8", "threads=1"]
    train(compose_cfg(overrides), tmp_path / "run")
    assert "counted 2503 tokens in 3 sentences" in (tmp_path / "run" / "train.log").read_text()


IN_PROCESS_ERRORS = [
    "missing",
    "empty",
    "min_count",
    "one_word",
    "no_path",
    "window",
    "negatives",
    "nothing_to_train",
    "dim",
    "sample",
    "epochs",
    "device",
]


@pytest.mark.parametrize("case", IN_PROCESS_ERRORS)
def test_bad_input_raises_one_line_error_in_process(tmp_path, compose_cfg, write_corpus, case):
    text_path = write_corpus("t.txt", "a b c a")
    cases = {
        "missing": (["corpus=text", f"corpus.path={tmp_path / 'nope.txt'}"], "no such file"),
        "empty": (["corpus=text", f"corpus.path={write_corpus('empty.txt', ' .. ')}"], "the corpus has no tokens"),
        "min_count": (["corpus=text", f"corpus.path={text_path}", "min_count=3"], "no word occurs at least min_count=3"),
        "one_word": (["corpus=text", f"corpus.path={text_path}", "min_count=2"], "word2vec needs at least 2"),
        "no_path": (["corpus=text"], "corpus.path is not set"),
        "window": (["window=0"], "invalid value window=0"),
        "negatives": (["negatives=-1"], "invalid value negatives=-1"),
        "nothing_to_train": (["negatives=0"], "hs=false with negatives=0 leaves nothing to train"),
        "dim": (["dim=0"], "invalid value dim=0"),
        "sample": (["sample=-1"], "invalid value sample=-1"),
        "epochs": (["epochs=0"], "invalid value epochs=0"),
        "device": (["device=tpu"], "unknown device 'tpu'"),
    }
    overrides, fragment = cases[case]
    with pytest.raises(W2VError, match=re.escape(fragment)) as err:
        train(compose_cfg(overrides + ["eval=none"]), tmp_path / "run")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / "corpus.ids").exists()


# ---------------------------------------------------------------- datasets corpora, offline


@pytest.mark.parametrize("kind", ["dir", "txt", "jsonl"])
def test_hf_corpus_from_local_files(tmp_path, compose_cfg, write_corpus, kind):
    if kind == "jsonl":
        path = write_corpus("rows.jsonl", '{"text": "Hello world"}\n{"text": "Second row, here."}\n')
        expected = [["hello", "world"], ["second", "row", "here"]]
    else:
        write_corpus("d/a.txt", "One two\nthree\n")
        write_corpus("d/b.txt", "Four five\n")
        path = tmp_path / "d" if kind == "dir" else tmp_path / "d" / "a.txt"
        expected = [["one", "two"], ["three"], ["four", "five"]] if kind == "dir" else [["one", "two"], ["three"]]
    cfg = compose_cfg(["corpus=hf", f"corpus.path={path}"])
    assert list(iter_sentences(cfg.corpus)) == expected


def test_hf_corpus_trains(tmp_path, compose_cfg, write_corpus, synthetic_text):
    text = synthetic_text(n_sentences=60, length=12)
    write_corpus("d/part1.txt", text)
    overrides = ["corpus=hf", f"corpus.path={tmp_path / 'd'}", "eval=none", "epochs=1", "dim=8", "threads=1"]
    metrics = train(compose_cfg(overrides), tmp_path / "run")
    assert metrics["corpus_tokens"] == 60 * 12
    assert vocab_counts(tmp_path / "run") == {w: c for w, c in reference_counts(text).items() if c >= 5}


# ---------------------------------------------------------------- train.py as a user runs it
#
# Each train.py run pays ~4 s of interpreter and torch start-up, so the runs below are made by one
# module fixture, two at a time, and the tests check their results. Training runs use threads=1 (a
# machine setting, left out of run names) so two concurrent runs do not oversubscribe 2 cores.

GLOB_PARTS = {"p/a.txt.gz": 1, "p/b.txt.bz2": 2, "p/c.txt.xz": 3, "p/d.txt": 4}  # file -> text seed

# One of each kind of our errors (a bad path, a corpus too small, a bad value) goes through train.py;
# the rest of the bad inputs raise the same W2VError in-process (above and in test_config.py), which
# train.py turns into this one line and exit code 2.
ERROR_CASES = {
    # name: (overrides, message fragment, exit code); Hydra's own errors exit with 1.
    "missing_path": (["corpus=text", "corpus.path={tmp}/nope.txt"], "no such file; check the path", 2),
    "min_count": (["corpus=text", "corpus.path={tmp}/tiny.txt", "min_count=50"], "lower min_count", 2),
    "window_0": (["window=0"], "invalid value window=0", 2),
    "unknown_corpus": (["corpus=nope"], "Could not find 'corpus/nope'", 1),
    "unknown_key": (["windw=3"], "Key 'windw' not in 'TrainConfig'", 1),
    "wrong_type": (["window=abc"], "Value 'abc' of type 'str' could not be converted to Integer", 1),
}


@pytest.fixture(scope="module")
def cli(tmp_path_factory, run_train, synthetic_text, write_text_file):
    """Run every train.py invocation of this section: ``(tmp, {name: CompletedProcess})``."""
    tmp = tmp_path_factory.mktemp("cli")
    for name, seed in GLOB_PARTS.items():
        write_text_file(tmp / name, synthetic_text(n_sentences=40, n_words=20, seed=seed))
    write_text_file(tmp / "p" / "ignored.md", "not matched by the glob " * 50)
    write_text_file(tmp / "tiny.txt", "a few words only\n")
    quick = ["eval=none", "epochs=1", "threads=1"]
    jobs = {  # longest first, for a better packing of the two lanes
        "lee": [*quick, f"hydra.run.dir={tmp / 'lee'}"],
        "multirun": ["-m", "window=2,3", *quick, "corpus.max_tokens=5000", f"hydra.sweep.dir={tmp / 'sweep'}"],
        "glob": ["corpus=text", f"corpus.path={tmp / 'p' / '*.txt*'}", *quick, f"hydra.run.dir={tmp / 'glob'}"],
    }
    for name, (overrides, _, _) in ERROR_CASES.items():
        jobs[name] = [o.format(tmp=tmp) for o in overrides] + ["eval=none", f"hydra.run.dir={tmp / name}"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = dict(zip(jobs, pool.map(lambda args: run_train(args, cwd=tmp), jobs.values())))
    return tmp, procs


def test_train_py_on_lee(cli):
    tmp, procs = cli
    run_dir = tmp / "lee"
    assert procs["lee"].returncode == 0, procs["lee"].stderr[-3000:]
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    assert (run_dir / ".hydra" / "config.yaml").is_file() and list((run_dir / "tb").glob("events.*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["vocab_size"] == 1799 and len(metrics["epoch_loss"]) == 1
    assert "Traceback" not in procs["lee"].stderr


def test_train_py_on_a_glob_of_gz_bz2_xz_and_plain_files(cli, synthetic_text):
    tmp, procs = cli
    assert procs["glob"].returncode == 0, procs["glob"].stderr[-3000:]
    total = reference_counts("".join(synthetic_text(n_sentences=40, n_words=20, seed=seed) for seed in GLOB_PARTS.values()))
    assert vocab_counts(tmp / "glob") == {w: c for w, c in total.items() if c >= 5}  # every file read, each once
    for name in RUN_FILES:
        assert (tmp / "glob" / name).is_file(), name


def test_multirun_makes_one_directory_per_job(cli):
    tmp, procs = cli
    sweep = tmp / "sweep"
    assert procs["multirun"].returncode == 0, procs["multirun"].stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["corpus.max_tokens=5000,epochs=1,eval=none,window=2", "corpus.max_tokens=5000,epochs=1,eval=none,window=3"]
    for job, window in zip(jobs, (2, 3)):
        for name in ("vectors.txt", "vectors.bin", "metrics.json", "vocab.tsv"):
            assert (sweep / job / name).is_file(), (job, name)
        assert json.loads((sweep / job / "metrics.json").read_text())["corpus_tokens"] == 5000
        state = torch.load(sweep / job / "checkpoint.pt", weights_only=True)
        assert state["config"]["window"] == window
    assert not (tmp / "outputs").exists() and not (tmp / "multirun").exists()


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_bad_input_gives_a_one_line_error(cli, name):
    tmp, procs = cli
    _, fragment, code = ERROR_CASES[name]
    assert_clean_failure(procs[name], fragment, code)
    if code == 2:
        # Our errors: one log line at ERROR level, and no half-written cache left behind.
        error_lines = [line for line in procs[name].stderr.splitlines() if "ERROR" in line]
        assert len(error_lines) == 1 and fragment in error_lines[0], procs[name].stderr
        assert not (tmp / name / "corpus.ids").exists()


def test_wikitext_without_the_hub_stops_quickly_and_says_how_to_go_local(tmp_path, run_train):
    # An empty datasets cache and HF_HUB_OFFLINE: the same outcome here (no network) and on a machine online.
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"), "HF_HUB_OFFLINE": "1"}
    start = time.monotonic()
    proc = run_train(["corpus=wikitext", "eval=none", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env=env, timeout=60)
    elapsed = time.monotonic() - start
    assert_clean_failure(proc, "train from local files instead: corpus=text corpus.path=")
    # ~5-10 s of it is interpreter, torch and datasets start-up (22 s once on a loaded machine); network
    # retries would take minutes, so 30 s still tells "stops at once" from "waits on the network".
    assert elapsed < 30, f"took {elapsed:.1f}s"


@pytest.mark.slow
def test_text8_prefix_of_wiki8(tmp_path, run_train, requires_data):
    path = requires_data("wiki8/wiki8.txt.gz")
    run_dir = tmp_path / "run"
    args = ["corpus=text8", f"corpus.path={path}", "corpus.max_tokens=1000000", "eval=none", "epochs=1", f"hydra.run.dir={run_dir}"]
    proc = run_train(args, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "counted 1000000 tokens in 100 sentences" in (run_dir / "train.log").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["corpus_tokens"] == 1_000_000 and metrics["epoch_loss"][0] < 3.0
