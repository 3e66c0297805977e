"""Word queries (``similar.py``): gensim's most_similar on the same vectors, end to end on a Lee run, and
one-line errors for unknown words and bad arguments."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from gensim.models import KeyedVectors
from helpers import REPO_ROOT

from w2v.cli import similar_main as main
from w2v.errors import W2VError
from w2v.vectors import WordVectors

SIMILAR_PY = REPO_ROOT / "similar.py"


def _run(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, str(SIMILAR_PY), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def random_vectors() -> tuple[WordVectors, KeyedVectors]:
    words = [f"w{i}" for i in range(60)]
    table = np.random.default_rng(4).standard_normal((60, 8)).astype(np.float32)
    kv = KeyedVectors(8)
    kv.add_vectors(words, table)
    return WordVectors(words, table, name="random"), kv


@pytest.mark.parametrize(
    "positive, negative, topn",
    [(["w3"], [], 10), (["w0", "w7"], ["w12"], 5), (["w5", "w6", "w9"], ["w1", "w2"], 57), ([], ["w4"], 3)],
)
def test_equals_gensim_most_similar(random_vectors, positive, negative, topn):
    vecs, kv = random_vectors
    ours = vecs.most_similar(positive, negative, topn)
    theirs = kv.most_similar(positive=positive, negative=negative, topn=topn)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)


def test_unknown_word_names_the_word_and_a_case_variant(random_vectors):
    vecs, _ = random_vectors
    with pytest.raises(W2VError, match=r"unknown word 'nope': it is not among the 60 words of random$"):
        vecs.most_similar(["w1", "nope"])
    with pytest.raises(W2VError, match=r"unknown word 'W1'.*did you mean 'w1'"):
        vecs.most_similar(["W1"])


def test_lee_run_end_to_end_equals_gensim(lee_run, tmp_path):
    run_dir, _ = lee_run
    proc = _run([f"run={run_dir}", "positive=[government,police]", "negative=[man]", "topn=5"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("most similar to government + police - man (")
    rows = [line.split() for line in lines[2:]]
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    expected = kv.most_similar(positive=["government", "police"], negative=["man"], topn=5)
    assert [r[1] for r in rows] == [w for w, _ in expected]
    assert [r[2] for r in rows] == [f"{s:.4f}" for _, s in expected]


def test_unknown_word_is_one_line_exit_2(lee_run, tmp_path):
    proc = _run([f"run={lee_run[0]}", "positive=[government,qwertyuiop]"], tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "unknown word 'qwertyuiop'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["positive=king"], "run is not set"),
        (["run=RUN"], "no words given"),
        (["run=RUN", "positive=said", "topn=0"], "invalid value topn='0'"),
        (["run=RUN", "positive=said", "colour=red"], "unknown argument 'colour=red'"),
        (["run=/nonexistent/run", "positive=said"], "vectors file /nonexistent/run not found"),
        (["run=KV", "positive=said"], "trust_pickle=true"),
    ],
)
def test_argument_errors(lee_run, tmp_path, capsys, argv, message):
    kv = tmp_path / "lee.kv"
    KeyedVectors.load_word2vec_format(str(lee_run[0] / "vectors.bin"), binary=True).save(str(kv))
    argv = [a.replace("RUN", str(lee_run[0])).replace("KV", str(kv)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_trusted_kv_answers_like_the_run(lee_run, tmp_path, capsys):
    kv = tmp_path / "lee.kv"
    KeyedVectors.load_word2vec_format(str(lee_run[0] / "vectors.bin"), binary=True).save(str(kv))
    assert main([f"run={kv}", "positive=said", "trust_pickle=true"]) == 0
    from_kv = capsys.readouterr().out.splitlines()[1:]
    assert main([f"run={lee_run[0]}", "positive=said"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == from_kv


@pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason='needs faiss-cpu: pip install -e ".[ann]"')
def test_an_approximate_index_answers_like_the_exact_search(lee_run, tmp_path):
    run_dir, _ = lee_run
    query = ["positive=[government,police]", "negative=[man]", "topn=5"]
    exact = _run([f"run={run_dir}", *query], tmp_path)
    approx = _run([f"run={run_dir}", *query, "index=faiss"], tmp_path)
    assert exact.returncode == approx.returncode == 0, approx.stderr[-2000:]
    assert approx.stdout == exact.stdout  # a few thousand words: HNSW finds the exact top 5, with the same cosines
    assert (run_dir / "vectors.bin.faiss").is_file()  # kept for the next query
    again = _run([f"run={run_dir}", *query, "index=faiss"], tmp_path)
    assert again.stdout == exact.stdout
