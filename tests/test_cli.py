"""The four commands through their console entry functions (what ``w2v-train``, ``w2v-evaluate``,
``w2v-similar`` and ``w2v-recommend`` call), run as ``python -m w2v <command>`` in subprocesses from
a directory outside the checkout, on a tiny run."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, make_quick_overrides, make_synthetic_text, write_text_file

from w2v.vectors import save_word2vec


def run_w2v(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])  # this checkout's w2v, whatever is installed
    return subprocess.run([sys.executable, "-m", "w2v", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_console_scripts_name_the_entry_functions():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"w2v-train", "w2v-evaluate", "w2v-similar", "w2v-recommend"}
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def test_train_evaluate_similar_end_to_end(tmp_path):
    corpus = write_text_file(tmp_path / "corpus.txt", make_synthetic_text(n_sentences=100, n_words=30))
    train = run_w2v(["train", *make_quick_overrides(corpus), f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    assert (tmp_path / "run" / "vectors.bin").is_file() and (tmp_path / "run" / ".hydra" / "config.yaml").is_file()

    report = tmp_path / "report"
    args = [f"vectors={tmp_path / 'run'}", "eval.glove_path=null", "eval.plot=false", f"out={report}", f"hydra.run.dir={tmp_path / 'ev'}"]
    evaluate = run_w2v(["evaluate", *args], tmp_path)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert "| analogy |" in evaluate.stdout and (report / "eval.json").is_file()

    before = sorted(p.name for p in tmp_path.iterdir())
    similar = run_w2v(["similar", f"run={tmp_path / 'run'}", "positive=[w1,w2]", "neg=w3", "topn=3"], tmp_path)
    assert similar.returncode == 0, similar.stderr[-3000:]
    lines = similar.stdout.splitlines()
    assert lines[0].startswith("most similar to w1 + w2 - w3 (run: 30 words)") and len(lines) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # a query writes nothing
    unknown = run_w2v(["similar", f"run={tmp_path / 'run'}", "positive=nope"], tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: unknown word 'nope': it is not among the 30 words of run"


def test_recommend_end_to_end(tmp_path):
    songs = tmp_path / "songs"
    write_text_file(songs / "train.txt", "ids\ncounts\n1 2 3\n")
    titles = "".join(f"{i} \tSong {i}\tArtist {i}\n" for i in range(6) if i != 3) + "3 \tHello, Goodbye\tThe Beatles\n"
    (songs / "song_hash.txt").write_text(titles)
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"corpus:\n  kind: playlists\n  path: {songs}\n  metadata: null\n")
    table = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    save_word2vec(run / "vectors.bin", [str(i) for i in range(6)], table, binary=True)

    done = run_w2v(["recommend", f"run={run}", "song=Hello, Goodbye", "topn=2"], tmp_path)  # a title with a comma
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == "Songs most similar to 3 Hello, Goodbye - The Beatles"
    assert len(done.stdout.splitlines()) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "songs"]


def test_help_and_unknown_commands(tmp_path):
    helped = run_w2v(["similar", "--help"], tmp_path)
    assert helped.returncode == 0 and "positive=WORD" in helped.stdout and "trust_pickle" in helped.stdout
    train_help = run_w2v(["train", "--help"], tmp_path)
    assert train_help.returncode == 0 and "corpus:" in train_help.stdout
    nothing = run_w2v(["fly"], tmp_path)
    assert nothing.returncode == 2 and "usage: python -m w2v {train,evaluate,similar,recommend}" in nothing.stderr
    assert list(tmp_path.iterdir()) == []
