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
    # The merge is sequential, so it runs on Python ints in lists: with numpy arrays indexed one scalar at a time
    # (and the paths built in Python lists) a 68k-word Zipf vocabulary took 0.63 s instead of 0.12 s, on every
    # start of a hierarchical-softmax run.
    count = counts.tolist() + [np.iinfo(np.int64).max // 4] * (n - 1)
    parent = [0] * (2 * n - 1)
    binary = [0] * (2 * n - 1)
    pos1, pos2 = n - 1, n
    for a in range(n - 1):
        # The two smallest of the two queue heads.
        if pos1 >= 0 and count[pos1] < count[pos2]:
            min1, pos1 = pos1, pos1 - 1
        else:
            min1, pos2 = pos2, pos2 + 1
        if pos1 >= 0 and count[pos1] < count[pos2]:
            min2, pos1 = pos1, pos1 - 1
        else:
            min2, pos2 = pos2, pos2 + 1
        count[n + a] = count[min1] + count[min2]
        parent[min1] = parent[min2] = n + a
        binary[min2] = 1
    root = 2 * n - 2
    up = np.array(parent, dtype=np.int64)
    bit = np.array(binary, dtype=np.float32)
    # Every node's depth, one level per pass (a parent always has a larger id than its children, the root the largest).
    depth = np.zeros(2 * n - 1, dtype=np.int64)
    while True:
        deeper = depth[up] + 1
        deeper[root] = 0
        if np.array_equal(deeper, depth):
            break
        depth = deeper
    lengths = depth[:n].copy()
    width = int(lengths.max())
    points = np.zeros((n, width), dtype=np.int64)
    codes = np.zeros((n, width), dtype=np.float32)
    # Walk all leaves up at once: a word's code is read leaf-to-root, so step k fills position length - 1 - k
    # (the root's child end is position 0). Inner node n + j owns output row j.
    flat = np.arange(n) * width + lengths - 1  # each live word's next slot, in the flattened (n, width) arrays
    node, left = np.arange(n), lengths.copy()
    point_slots, code_slots = points.reshape(-1), codes.reshape(-1)
    for _ in range(width):
        code_slots[flat] = bit[node]
        node = up[node]
        point_slots[flat] = node - n
        flat, left = flat - 1, left - 1
        if not left.all():  # drop the words whose walk reached the root
            live = left > 0
            flat, node, left = flat[live], node[live], left[live]
    return HuffmanTree(points, codes, lengths)
