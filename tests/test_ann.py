"""The optional approximate-neighbours index (w2v/ann.py): recall against exact cosine search, the
shape of its answers, saving it beside the vectors, and one-line errors. Each library's tests skip
when it is not installed (pip install -e ".[ann]")."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from w2v import ann
from w2v.ann import build_index, cached_index, index_file, load_index, query, save_index
from w2v.errors import W2VError

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ann.py"


def _installed(kind: str) -> bool:
    return importlib.util.find_spec(ann.KINDS[kind][0].split(".")[0]) is not None


def _how(kind: str) -> str:
    return "pip install -e '.[ann]'" if kind == ann.DEFAULT_KIND else f"pip install {ann.KINDS[kind][1]}"


KINDS = [pytest.param(kind, marks=pytest.mark.skipif(not _installed(kind), reason=f"needs {kind}: {_how(kind)}")) for kind in ann.KINDS]
needs_default = pytest.mark.skipif(not _installed(ann.DEFAULT_KIND), reason=f"needs {ann.DEFAULT_KIND}: {_how(ann.DEFAULT_KIND)}")


@pytest.fixture(scope="module")
def unit() -> np.ndarray:
    """3000 unit vectors of 16 dims, in clusters so that neighbours mean something."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((60, 16))
    x = centres[rng.integers(0, 60, 3000)] + 0.3 * rng.standard_normal((3000, 16))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(unit: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    sims = queries @ unit.T  # (n, V)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("kind", KINDS)
def test_recall_at_10_against_exact_cosine(unit, kind):
    index = build_index(unit, kind, threads=1)
    queries = unit[:200]
    rows, sims = query(index, queries, 10)
    assert rows.shape == sims.shape == (200, 10) and rows.dtype == np.int64 and sims.dtype == np.float32
    truth = exact_top(unit, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), truth.tolist())])
    assert recall >= 0.95, recall
    assert (rows[:, 0] == np.arange(200)).mean() > 0.99 and np.allclose(sims[:, 0], 1.0, atol=1e-5)  # each word's nearest is itself
    assert np.all(np.diff(sims, axis=1) <= 1e-6)  # best first
    exact = np.take_along_axis(queries @ unit.T, rows, axis=1)
    assert np.allclose(sims, exact, atol=1e-5)  # the scores are cosines


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_answer_the_same(unit, kind, tmp_path):
    index = build_index(unit, kind, threads=1)
    path = save_index(index, tmp_path / f"v{ann.KINDS[kind][2]}")
    loaded = load_index(path, kind, *unit.shape)
    assert np.array_equal(query(index, unit[:50], 5)[0], query(loaded, unit[:50], 5)[0])
    with pytest.raises(W2VError, match="not 2999 x 16: delete it to rebuild|is not a usearch index of 2999 x 16"):
        load_index(path, kind, 2999, 16)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize("kind", KINDS)
def test_a_single_query_and_more_neighbours_than_words(kind):
    unit = np.eye(4, dtype=np.float32)
    index = build_index(unit, kind, threads=1)
    rows, sims = query(index, unit[2], 6)  # (D,) is one query
    assert rows.shape == (1, 6) and rows[0, 0] == 2 and sims[0, 0] == pytest.approx(1.0)
    assert sorted(rows[0, :4].tolist()) == [0, 1, 2, 3] and rows[0, 4:].tolist() == [-1, -1] and np.all(np.isneginf(sims[0, 4:]))


@needs_default
def test_cached_index_is_kept_beside_the_vectors_and_reused(unit, tmp_path, monkeypatch, caplog):
    vectors = tmp_path / "vectors.bin"
    vectors.write_bytes(b"stand-in")
    cached_index(unit, vectors, threads=1)
    path = index_file(vectors)
    assert path.name == "vectors.bin" + ann.KINDS[ann.DEFAULT_KIND][2] and path.is_file()

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt a fresh index")

    monkeypatch.setattr(ann, "build_index", no_build)
    assert cached_index(unit, vectors).size == 3000  # loaded, not built
    monkeypatch.undo()

    os.utime(vectors, (path.stat().st_mtime + 10,) * 2)  # the vectors changed after the index was built
    built = []
    monkeypatch.setattr(ann, "build_index", lambda *a, **k: built.append(1) or build_index(*a, **k))
    cached_index(unit, vectors, threads=1)
    assert built == [1]

    path.write_bytes(b"not an index at all" * 10)  # damaged: a warning, then a new index
    os.utime(vectors, (path.stat().st_mtime - 10,) * 2)
    with caplog.at_level(logging.WARNING, logger="w2v.ann"):
        assert cached_index(unit, vectors, threads=1).size == 3000
    assert "delete it to rebuild; building a new index" in caplog.text and len(built) == 2


def test_errors_are_one_line(monkeypatch):
    with pytest.raises(W2VError, match="unknown index kind 'annoy': use one of usearch, hnswlib, faiss"):
        build_index(np.eye(3, dtype=np.float32), "annoy")

    def missing(name):
        raise ImportError(name)

    monkeypatch.setattr(ann.importlib, "import_module", missing)
    with pytest.raises(W2VError, match=r'the faiss index needs the faiss-cpu package: pip install -e "\.\[ann\]"'):
        build_index(np.eye(3, dtype=np.float32))  # the default kind: the extra installs it
    with pytest.raises(W2VError, match="the hnswlib index needs the hnswlib package: pip install hnswlib"):
        build_index(np.eye(3, dtype=np.float32), "hnswlib")
    with pytest.raises(W2VError, match="non-empty"):
        build_index(np.zeros((0, 3), dtype=np.float32), "hnswlib")


@needs_default
def test_query_checks_its_input():
    index = build_index(np.eye(3, dtype=np.float32), threads=1)
    with pytest.raises(W2VError, match="query vectors have 4 dims but the index has 3"):
        query(index, np.ones(4, dtype=np.float32), 2)
    with pytest.raises(W2VError, match="topn=0"):
        query(index, np.ones(3, dtype=np.float32), 0)


@needs_default
@needs_default
def test_bench_script_writes_its_table_and_json(tmp_path, unit):
    words = [f"w{i}" for i in range(500)]
    lines = [f"{len(words)} {unit.shape[1]}"] + [f"{w} " + " ".join(f"{v:.5f}" for v in row) for w, row in zip(words, unit[:500])]
    (tmp_path / "v.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "ann.json"
    args = [
        "--vectors",
        str(tmp_path / "v.txt"),
        "--kinds",
        ann.DEFAULT_KIND,
        "--queries",
        "30",
        "--ef-search",
        "16,64",
        "--json",
        str(out),
    ]
    proc = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert [r["ef_search"] for r in result["rows"]] == [16, 64] and result["rows"][1]["recall@10"] >= 0.9
    assert (
        result["vectors"]["words"] == 500 and result["exact"]["us_per_query"] > 0 and ann.KINDS[ann.DEFAULT_KIND][1] in result["versions"]
    )
    assert "| exact (numpy) | - | 1.0000 |" in proc.stdout and f"| {ann.DEFAULT_KIND} | 64 |" in proc.stdout
