"""``WordVectors``, the vectors object: gensim's ``most_similar`` to the bit (ties, zero rows and
``restrict_vocab`` included), lookups, and the checks on what it is built from."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gensim.models import KeyedVectors

from w2v.errors import W2VError
from w2v.vectors import WordVectors


def _tied_table(seed: int) -> tuple[list[str], np.ndarray]:
    """Random rows, some repeated or rescaled (equal cosines: ties) and one all zero."""
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((80, 6)).astype(np.float32)
    table[10:14] = table[3]
    table[20] = 2 * table[5]
    table[30] = 0
    return [f"w{i}" for i in range(80)], table


@pytest.mark.parametrize(
    "positive, negative, topn, restrict_vocab",
    [
        (["w3"], [], 12, None),
        (["w0", "w5"], ["w7"], 20, None),
        (["w3", "w40"], ["w20"], 85, None),  # more than the table: the zero row comes last, as nan
        (["w1"], ["w2"], 8, 25),
        ("w5", [], 3, 50),
    ],
)
def test_most_similar_is_gensims_to_the_bit(positive, negative, topn, restrict_vocab):
    words, table = _tied_table(0)
    kv = KeyedVectors(6)
    kv.add_vectors(words, table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gensim divides the zero row by its zero norm
        theirs = kv.most_similar(positive=positive, negative=negative, topn=topn, restrict_vocab=restrict_vocab)
    ours = WordVectors(words, table).most_similar(positive, negative, topn, restrict_vocab)
    assert [w for w, _ in ours] == [w for w, _ in theirs]  # tie order too
    np.testing.assert_array_equal([s for _, s in ours], [s for _, s in theirs])


def test_weights_and_raw_vectors_as_in_gensim():
    words, table = _tied_table(1)
    kv = KeyedVectors(6)
    kv.add_vectors(words, table)
    query = [("w1", 2.0), table[4] * 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = kv.most_similar(positive=query, negative=["w9"], topn=5)
    ours = WordVectors(words, table).most_similar(query, ["w9"], topn=5)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-6)


def test_lookups_similarity_and_query_errors():
    words, table = _tied_table(2)
    vecs = WordVectors(words, table, counts=np.arange(80, 0, -1), name="t")
    assert "w3" in vecs and "W3" not in vecs and vecs.index["w79"] == 79
    np.testing.assert_array_equal(vecs["w2"], table[2])
    np.testing.assert_array_equal(vecs[["w2", "w1"]], table[[2, 1]])
    assert vecs.similarity("w3", "w10") == pytest.approx(1.0) and vecs.similarity("w5", "w20") == pytest.approx(1.0)
    assert vecs.most_similar("w1", topn=0) == []
    with pytest.raises(W2VError, match=r"^unknown word 'W3': it is not among the 80 words of t; did you mean 'w3'"):
        vecs["W3"]
    with pytest.raises(W2VError, match="no words given"):
        vecs.most_similar([], [])
    with pytest.raises(W2VError, match=r"the query w3 - w10 sums to a zero vector"):
        vecs.most_similar(["w3"], ["w10"])
    with pytest.raises(W2VError, match=r"80 words but \(3,\) counts"):
        WordVectors(words, table, counts=np.ones(3), name="t")
