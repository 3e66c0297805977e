"""The Huffman tree of hierarchical softmax, built as word2vec.c's ``CreateBinaryTree`` builds it.

Each word is a leaf; the ``V - 1`` inner nodes each own one row of the output table (``syn1``).
A word's *path* lists the inner nodes from the root down to its leaf and its *code* the branch
taken at each (0 or 1). Hierarchical softmax then models ``p(word | h)`` as the product over the
path of ``σ((1 - 2·code) · u_node·h)``, so frequent words (short codes) are cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class HuffmanTree:
    """Paths and codes of every word, padded to the longest code.

    points: (V, L) int64 inner-node ids (0 .. V-2, the root is V-2), 0 past a word's length.
    codes:  (V, L) float32 branch bits, 0 past a word's length.
    lengths: (V,) int64 code length of each word.
    """

    points: np.ndarray
    codes: np.ndarray
    lengths: np.ndarray

    @property
    def n_inner(self) -> int:
        """Number of inner nodes, i.e. rows of the hierarchical-softmax output table."""
        return max(1, len(self.lengths) - 1)


def build_huffman(counts: np.ndarray) -> HuffmanTree:
    """Huffman tree of ``counts`` (sorted by descending count, as the vocabulary is).

    word2vec.c's linear two-queue construction: leaves are read from the rarest end
    (``pos1`` walks down the sorted counts) and merged inner nodes come out in increasing order
    (``pos2`` walks up), so the two smallest are always at one of the two heads. The smaller of
    the two merged nodes gets bit 0, the larger bit 1. A one-word vocabulary gets a single inner
    node and code ``[0]``, so it still trains.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    if n < 2:
        return HuffmanTree(np.zeros((n, 1), np.int64), np.zeros((n, 1), np.float32), np.ones(n, np.int64))
    if np.any(np.diff(counts) > 0):
        raise ValueError("build_huffman needs counts sorted in descending order")
    count = np.concatenate([counts, np.full(n - 1, np.iinfo(np.int64).max // 4, dtype=np.int64)])
    parent = np.zeros(2 * n - 1, dtype=np.int64)
    binary = np.zeros(2 * n - 1, dtype=np.int8)
    pos1, pos2 = n - 1, n
    for a in range(n - 1):
        picked = []
        for _ in range(2):  # the two smallest of the two queue heads
            if pos1 >= 0 and count[pos1] < count[pos2]:
                picked.append(pos1)
                pos1 -= 1
            else:
                picked.append(pos2)
                pos2 += 1
        min1, min2 = picked
        count[n + a] = count[min1] + count[min2]
        parent[min1] = parent[min2] = n + a
        binary[min2] = 1
    root = 2 * n - 2
    paths: list[list[int]] = []
    bits: list[list[int]] = []
    for leaf in range(n):
        node, code, point = leaf, [], []
        while node != root:  # walk up: the code is read leaf-to-root, then reversed
            code.append(int(binary[node]))
            node = int(parent[node])
            point.append(node - n)  # inner node n + j owns output row j
        paths.append(point[::-1])
        bits.append(code[::-1])
    lengths = np.array([len(c) for c in bits], dtype=np.int64)
    width = int(lengths.max())
    points = np.zeros((n, width), dtype=np.int64)
    codes = np.zeros((n, width), dtype=np.float32)
    for w, (p, c) in enumerate(zip(paths, bits)):
        points[w, : len(p)] = p
        codes[w, : len(c)] = c
    return HuffmanTree(points, codes, lengths)
