"""Huffman tree of hierarchical softmax: word2vec.c's CreateBinaryTree, checked by hand and against gensim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from w2v.models.huffman import build_huffman


def test_codes_and_paths_equal_a_tree_built_by_hand():
    # Counts 5 4 3 2 1 (words a..e). word2vec.c merges the two smallest heads each step, the smaller
    # getting bit 0 and the larger bit 1; inner node 5 + j is output row j, the root (node 8) row 3:
    #   node5 = e(1) + d(2) -> d:1      node6 = node5(3) + c(3) -> c:1 (ties take the inner node first)
    #   node7 = b(4) + a(5) -> a:1      node8 = node6(6) + node7(9) -> node7:1
    tree = build_huffman(np.array([5, 4, 3, 2, 1]))
    expected = {  # word: (path of inner rows from the root, code)
        0: ([3, 2], [1, 1]),  # a: root -> node7 (bit 1) -> a (bit 1)
        1: ([3, 2], [1, 0]),  # b
        2: ([3, 1], [0, 1]),  # c: root -> node6 (bit 0) -> c (bit 1)
        3: ([3, 1, 0], [0, 0, 1]),  # d: root -> node6 -> node5 (bit 0) -> d (bit 1)
        4: ([3, 1, 0], [0, 0, 0]),  # e
    }
    assert tree.lengths.tolist() == [2, 2, 2, 3, 3]
    assert tree.n_inner == 4
    for word, (path, code) in expected.items():
        n = tree.lengths[word]
        assert tree.points[word, :n].tolist() == path
        assert tree.codes[word, :n].tolist() == code


def test_two_words_and_one_word():
    tree = build_huffman(np.array([3, 1]))
    assert tree.points.tolist() == [[0], [0]] and tree.codes.tolist() == [[1.0], [0.0]]
    single = build_huffman(np.array([7]))
    assert single.lengths.tolist() == [1] and single.n_inner == 1


def test_counts_must_be_sorted():
    with pytest.raises(ValueError, match="descending"):
        build_huffman(np.array([1, 5, 3]))


@given(st.lists(st.integers(1, 1000), min_size=2, max_size=60))
def test_codes_are_prefix_free_complete_and_optimal(raw_counts):
    counts = np.array(sorted(raw_counts, reverse=True))
    tree = build_huffman(counts)
    codes = ["".join(str(int(b)) for b in tree.codes[w, : tree.lengths[w]]) for w in range(len(counts))]
    assert len(set(codes)) == len(codes)
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)  # prefix-free
    assert sum(2.0 ** -len(c) for c in codes) == pytest.approx(1.0)  # a full binary tree (Kraft equality)
    assert (np.diff(tree.lengths) >= 0).all()  # rarer words never get shorter codes
    # Every path starts at the root and stays within the V-1 inner rows.
    assert (tree.points[:, 0] == len(counts) - 2).all() and tree.points.max() <= len(counts) - 2
    # Optimal: the expected code length equals the classic Huffman merge cost.
    heap, cost = sorted(counts.tolist()), 0
    while len(heap) > 1:
        a, b = heap.pop(0), heap.pop(0)
        cost += a + b
        heap = sorted(heap + [a + b])
    assert int((counts * tree.lengths).sum()) == cost


def test_expected_code_length_equals_gensims():
    from gensim.models import Word2Vec

    rng = np.random.default_rng(0)
    counts = np.sort(rng.zipf(1.5, 300).clip(max=5000))[::-1]
    words = [f"w{i}" for i in range(len(counts))]
    model = Word2Vec(vector_size=4, min_count=1, hs=1, negative=0)
    model.build_vocab_from_freq(dict(zip(words, counts.tolist())))
    gensim_cost = sum(model.wv.get_vecattr(w, "count") * len(model.wv.get_vecattr(w, "code")) for w in words)
    ours = build_huffman(counts)
    assert int((counts * ours.lengths).sum()) == gensim_cost
