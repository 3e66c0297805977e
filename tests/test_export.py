"""Export: word2vec text and binary files that gensim loads, in descending-count order, with the
same nearest neighbours as our own vectors."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from w2v.data.vocab import Vocab
from w2v.vectors import save_word2vec


@pytest.fixture(scope="module")
def KeyedVectors():
    from gensim.models import KeyedVectors

    return KeyedVectors


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_through_gensim(tmp_path, KeyedVectors, binary):
    words = ["the", "naïve", "日本", "co-op", "don't"]
    vectors = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    path = tmp_path / ("v.bin" if binary else "v.txt")
    save_word2vec(path, words, vectors, binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == words and kv.vector_size == 7
    if binary:
        np.testing.assert_array_equal(kv.vectors, vectors)
    else:
        np.testing.assert_allclose(kv.vectors, vectors, rtol=1e-5, atol=1e-7)  # %.6g text


def test_text_header_and_line_format(tmp_path):
    save_word2vec(tmp_path / "v.txt", ["a", "b"], np.array([[0.5, -1.0], [0.25, 3.0]]), binary=False)
    assert (tmp_path / "v.txt").read_text(encoding="utf-8") == "2 2\na 0.5 -1\nb 0.25 3\n"


def test_exported_files_get_the_usual_permissions(tmp_path):
    # Written through a temporary file (atomic), yet readable as any file the user creates.
    umask = os.umask(0)
    os.umask(umask)
    save_word2vec(tmp_path / "v.txt", ["a"], np.ones((1, 2)), binary=False)
    assert stat.S_IMODE((tmp_path / "v.txt").stat().st_mode) == 0o666 & ~umask


def our_neighbours(vectors: np.ndarray, words: list[str], query: str, topn: int) -> list[tuple[str, float]]:
    """Cosine nearest neighbours with numpy, excluding the query itself."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = words.index(query)
    sims = unit @ unit[q]
    sims[q] = -np.inf
    order = np.argsort(-sims, kind="stable")[:topn]
    return [(words[i], float(sims[i])) for i in order]


@pytest.mark.parametrize("binary", [False, True])
def test_trained_vectors_load_in_gensim_with_our_neighbours(lee_run, KeyedVectors, binary):
    run_dir, metrics = lee_run
    vocab = Vocab.load_tsv(run_dir / "vocab.tsv")
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ours = state["model"]["in_embed.weight"].numpy()  # export=in (the default): input vectors
    kv = KeyedVectors.load_word2vec_format(str(run_dir / ("vectors.bin" if binary else "vectors.txt")), binary=binary)
    # Same words in the same order: descending count, as vocab.tsv.
    assert kv.index_to_key == vocab.words and len(vocab) == metrics["vocab_size"]
    assert np.all(np.diff(vocab.counts) <= 0)
    np.testing.assert_allclose(kv.vectors, ours, rtol=1e-5, atol=1e-7)
    for query in ["the", "government", "australia", "police", "fire"]:
        gensim_top = kv.most_similar(query, topn=10)
        our_top = our_neighbours(ours, vocab.words, query, 10)
        np.testing.assert_allclose([s for _, s in gensim_top], [s for _, s in our_top], atol=1e-4)
        # The same words in the same order, except where two neighbours tie to float32 precision
        # (gensim ranks float32 cosines, we rank float64 ones).
        for (gw, gs), (ow, _) in zip(gensim_top, our_top):
            assert gw == ow or any(w == gw and abs(s - gs) < 1e-6 for w, s in our_top), (query, gw, ow)


def test_export_in_plus_out_adds_the_output_vectors(tmp_path, compose_cfg, write_corpus, synthetic_text, quick_overrides, KeyedVectors):
    from w2v.train.trainer import train

    path = write_corpus("c.txt", synthetic_text(n_sentences=50))
    run_dir = tmp_path / "run"
    train(compose_cfg(quick_overrides(path, export="in+out")), run_dir)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    expected = (state["model"]["in_embed.weight"] + state["model"]["out_embed.weight"]).numpy()
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    np.testing.assert_array_equal(kv.vectors, expected)
