"""``phrases.enabled=true`` and ``init=`` under torchrun (w2v/data/prepare.py, w2v/data/rank_counts.py).

Each case prepares the data of one run on 2 spawned ranks (gloo, CPU, through the trainer's
``TorchCollectives``) and in one process (``LOCAL``) and compares them:

- the vocabulary: the same words with the same counts, in the same order up to ties (a tie between
  equal counts falls to first-occurrence order, which over 2 ranks is rank 0's words, then rank 1's);
  with 1 rank, exactly the same list;
- the corpus: every sentence rewritten exactly as one process rewrites it (sentence ``i`` of the
  corpus is sentence ``i // 2`` of rank ``i mod 2``'s shard); with 1 rank, the same ids;
- the ``phrases pass`` log lines, which count phrases and tokens of the whole corpus.

The spawn helpers are tests/helpers/dist.py's (explicit deadlines: a hang fails).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TRAIN_PY, compose_train_cfg, free_port, id_sentences, make_quick_overrides, make_synthetic_text
from helpers.dist import all_ok, setup_gloo, spawn

from w2v.data.prepare import prepare_corpus, shard_path
from w2v.data.vocab import SENTENCE_END, Vocab
from w2v.train import dist as wdist
from w2v.train.collectives import TorchCollectives


def _phrase_text() -> str:
    """Zipf-like filler with phrases: some on both ranks' lines, some on one rank's only (line i goes to rank i mod 2)."""
    lines = make_synthetic_text(n_sentences=120, n_words=60, length=12, seed=9).splitlines()
    out = []
    for i, line in enumerate(lines):
        if i % 3 == 0:
            line += " new york times"  # both ranks; a second pass joins new_york + times
        if i % 4 == 1:
            line = "los angeles " + line  # odd lines: rank 1 only
        if i % 10 == 0:
            line += " san francisco"  # even lines: rank 0 only
        if i % 14 == 7:
            line += " new_york"  # rank 1 only: a raw token spelled like the phrase is the same word
        out.append(line)
    return "\n".join(out) + "\n"


CASES = {  # name -> (overrides, whether the init run's vocabulary is merged in)
    "passes2": (["phrases.enabled=true", "phrases.passes=2", "min_count=1"], False),
    "npmi": (["phrases.enabled=true", "phrases.scoring=npmi", "phrases.threshold=0.5", "phrases.min_count=3", "min_count=2"], False),
    "prefix": (["phrases.enabled=true", "corpus.max_tokens=900", "min_count=1"], False),  # every rank reads the prefix
    "empty_rank": (["phrases.enabled=true", "corpus.max_tokens=10", "min_count=1"], False),  # one sentence: rank 1 has none
    "init": (["min_count=2"], True),
    "init+phrases": (["phrases.enabled=true", "phrases.passes=2", "min_count=2"], True),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """The corpus files, the init run (a finished tiny run) and each case's single-process result."""
    from w2v.train.trainer import train
    from w2v.train.warm_start import load_init_run

    tmp = tmp_path_factory.mktemp("dist_phrases")
    corpus, old_corpus = tmp / "c.txt", tmp / "old.txt"
    corpus.write_text(_phrase_text())
    old_corpus.write_text(make_synthetic_text(n_sentences=60, n_words=30, length=10, seed=3) + "new york\n" * 4)
    train(compose_train_cfg(make_quick_overrides(old_corpus)), tmp / "old", explicit=[])
    base = load_init_run(str(tmp / "old")).vocab
    single = {}
    for name, (overrides, with_init) in CASES.items():
        run = tmp / "single" / name
        run.mkdir(parents=True)
        with _phrase_log() as lines:
            cfg = compose_train_cfg(make_quick_overrides(corpus, **_kv(overrides)))
            vocab = prepare_corpus(cfg, run, base if with_init else None).vocab
        ids = np.fromfile(run / "corpus.ids", dtype=np.int32)  # provisional ids
        vocab_ids = vocab.remap[np.maximum(ids, 0)]
        # As a shard holds them: vocabulary ids, len(vocab) for a word below min_count, -1 between sentences.
        vocab_ids = np.where(ids == SENTENCE_END, SENTENCE_END, np.where(vocab_ids < 0, len(vocab), vocab_ids))
        single[name] = {**_vocab_of(vocab), "ids": vocab_ids, "log": lines}
    return {"tmp": tmp, "corpus": corpus, "old": tmp / "old", "single": single}


def _kv(overrides: list[str]) -> dict[str, str]:
    return dict(o.split("=", 1) for o in overrides)


@contextlib.contextmanager
def _phrase_log() -> Iterator[list[str]]:
    """Collect the ``phrases pass`` log lines of w2v.data.phrases while the block runs."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger, level = logging.getLogger("w2v.data.phrases"), logging.getLogger("w2v.data.phrases").level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        lines[:] = [line for line in lines if line.startswith("phrases pass")]


def _vocab_of(vocab: Vocab) -> dict:
    cc = vocab.corpus_counts
    return {"words": list(vocab.words), "counts": vocab.counts.tolist(), "corpus_counts": None if cc is None else cc.tolist()}


def _prepare_worker(rank: int, world: int, corpus: str, old: str, tmp: str, train_overrides: list[str] | None) -> dict:
    """Each case's prepare_corpus on this rank; then, given ``train_overrides``, a whole init= run (its tables before training)."""
    from w2v.train import trainer as tr
    from w2v.train.warm_start import load_init_run

    ctx = setup_gloo(timeout_s=30)
    try:
        base = load_init_run(old).vocab
        out: dict = {}
        for name, (overrides, with_init) in CASES.items():
            run = Path(tmp) / f"w{world}" / name
            run.mkdir(parents=True, exist_ok=True)
            cfg = compose_train_cfg(make_quick_overrides(corpus, **_kv(overrides)))
            with _phrase_log() as lines:
                shared = prepare_corpus(cfg, run, base if with_init else None, TorchCollectives(ctx))
            out[name] = {**_vocab_of(shared.vocab), "ids": np.fromfile(shard_path(run, rank), dtype=np.int32), "log": lines,
                         "n_tokens": shared.n_tokens}  # fmt: skip
        if train_overrides is not None:
            start: dict = {}
            fit = tr.Trainer.fit

            def keep_start(self):  # every rank's tables before its first update
                start.update({k: v.detach().clone() for k, v in self.model.state_dict().items()})
                start["words"] = list(self.vocab.words)
                return fit(self)

            tr.Trainer.fit = keep_start
            metrics = tr.train(compose_train_cfg(train_overrides), Path(tmp) / "init_run", explicit=["init"])
            out["train"] = {"start": start, "metrics": metrics}
        return out
    finally:
        wdist.shutdown(ctx)


def _init_overrides(data: dict) -> list[str]:
    # dist.merge=average: deltas (auto's pick for 2 ranks) equalises the replicas before fit(), which would hide
    # replicas that init= started apart.
    args = make_quick_overrides(data["corpus"], min_count=2, epochs=1, block_tokens=256, **{"dist.merge": "average"})
    return [*args, f"init={data['old']}"]


@pytest.fixture(scope="module")
def two_ranks(data) -> list[dict]:
    args = (str(data["corpus"]), str(data["old"]), str(data["tmp"]), _init_overrides(data))
    return all_ok(spawn(_prepare_worker, 2, *args, deadline=120), 2)


@pytest.mark.parametrize("name", list(CASES))
def test_two_ranks_build_the_single_process_vocabulary_and_rewrite_every_sentence_alike(data, two_ranks, name):
    want = data["single"][name]
    got = [r[name] for r in two_ranks]
    assert got[0]["words"] == got[1]["words"] and got[0]["counts"] == got[1]["counts"]  # every rank: the same ids
    assert got[0]["corpus_counts"] == got[1]["corpus_counts"]
    # The same words and counts; the order differs at most among equal counts (the counts' sequence is the same).
    assert got[0]["counts"] == want["counts"]
    assert dict(zip(got[0]["words"], got[0]["counts"])) == dict(zip(want["words"], want["counts"]))
    if want["corpus_counts"] is not None:  # init=: the new text's counts (subsampling, schedule), by word
        assert dict(zip(got[0]["words"], got[0]["corpus_counts"])) == dict(zip(want["words"], want["corpus_counts"]))
    # Every sentence, as words: sentence i of the corpus is sentence i // 2 of rank i mod 2's shard.
    single = id_sentences(want["ids"], want["words"])
    shards = [id_sentences(r["ids"], got[0]["words"]) for r in got]
    assert len(single) == len(shards[0]) + len(shards[1])
    assert all(s == shards[i % 2][i // 2] for i, s in enumerate(single))
    assert got[0]["n_tokens"] == sum(len(s) for s in single)
    # The log counts phrases and tokens of the whole corpus, on every rank.
    assert got[0]["log"] == got[1]["log"] == want["log"]
    if name == "empty_rank":
        assert len(shards[0]) == 1 and shards[1] == [] and want["log"]
    elif "phrases.enabled=true" in CASES[name][0]:
        assert want["log"] and "new_york" in want["words"]
    else:
        assert not want["log"]


def test_phrases_found_on_one_rank_only_and_a_raw_token_spelled_like_a_phrase(data, two_ranks):
    words = dict(zip(two_ranks[0]["passes2"]["words"], two_ranks[0]["passes2"]["counts"]))
    # los angeles only on rank 1's lines, san francisco only on rank 0's: found from the merged counts.
    assert {"los_angeles", "san_francisco", "new_york_times"} <= set(words)
    text = data["corpus"].read_text()
    assert words["los_angeles"] == text.count("los angeles") and words["san_francisco"] == text.count("san francisco")
    # new_york_times took every "new york times"; rank 1's raw new_york tokens stay that one word.
    assert words["new_york_times"] == text.count("new york times") and words["new_york"] == text.count(" new_york")
    assert "phrases pass 2/2" in two_ranks[0]["passes2"]["log"][1]


def test_one_rank_under_torchrun_is_exactly_the_single_process_data(data, tmp_path, monkeypatch):
    # A process group of one, in this process (a spawn costs seconds of imports); the worker destroys it.
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    for key, value in {**env, "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(key, value)
    one = _prepare_worker(0, 1, str(data["corpus"]), str(data["old"]), str(tmp_path), None)
    assert not torch.distributed.is_initialized()
    for name in CASES:
        want, got = data["single"][name], one[name]
        assert got["words"] == want["words"] and got["counts"] == want["counts"], name
        assert got["corpus_counts"] == want["corpus_counts"], name
        assert np.array_equal(got["ids"], want["ids"]), name
        assert got["log"] == want["log"], name


def test_an_init_run_on_two_ranks_starts_every_replica_from_the_init_vectors(data, two_ranks):
    old = torch.load(data["old"] / "checkpoint.pt", weights_only=True)
    old_words = list(old["vocab"]["words"])
    starts = [r["train"]["start"] for r in two_ranks]
    for key in ("in_embed.weight", "out_embed.weight"):
        assert np.array_equal(starts[0][key], starts[1][key]), key  # identical replicas, new words' rows included
        rows = [starts[0]["words"].index(w) for w in old_words]
        assert np.array_equal(starts[0][key][rows], old["model"][key].numpy()), key  # every old word keeps its vector
    assert set(starts[0]["words"]) > set(old_words)  # the new text brought new words
    # The vocabulary the run recorded is the single-process init= run's, by word (counts and the new text's counts).
    state = torch.load(data["tmp"] / "init_run" / "checkpoint.pt", weights_only=True)
    single = data["tmp"] / "single_init_run"
    single.mkdir()
    vocab = prepare_corpus(compose_train_cfg(_init_overrides(data)), single, Vocab(old_words, old["vocab"]["counts"].numpy())).vocab
    got = state["vocab"]
    assert got["counts"].tolist() == vocab.counts.tolist()
    assert dict(zip(got["words"], got["counts"].tolist())) == dict(zip(vocab.words, vocab.counts.tolist()))
    assert dict(zip(got["words"], got["corpus_counts"].tolist())) == dict(zip(vocab.words, vocab.corpus_counts.tolist()))
    metrics = two_ranks[0]["train"]["metrics"]
    assert metrics["world_size"] == 2 and metrics["train_words"] == vocab.total and metrics["words_done"] == vocab.total


@pytest.mark.slow
def test_torchrun_train_py_with_phrases_and_init(data, tmp_path):
    """As a user runs it: torchrun, 2 ranks, phrases on, from the init run; rank 0's log counts the whole corpus."""
    run = tmp_path / "run"
    args = [*make_quick_overrides(data["corpus"], min_count=2, block_tokens=256), "phrases.enabled=true", "phrases.passes=2"]
    args += [f"init={data['old']}", f"hydra.run.dir={run}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *wdist._ENV)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(TRAIN_PY), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = data["single"]["init+phrases"]
    vocab = [line.split("\t") for line in (run / "vocab.tsv").read_text().splitlines()]
    assert {w: int(c) for w, c in vocab} == dict(zip(want["words"], want["counts"])) and "new_york_times" in dict(vocab)
    log0 = (run / "train.log").read_text()
    assert all(line in log0 for line in want["log"]) and "phrases pass 1/2" in (run / "train.rank1.log").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["corpus_tokens"] == sum(len(s) for s in id_sentences(want["ids"], want["words"]))
