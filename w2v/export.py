"""Export vectors in word2vec text and binary formats (what gensim's ``load_word2vec_format`` reads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2v.atomic import atomic_open


def save_word2vec(path: Path, words: list[str], vectors: np.ndarray, binary: bool) -> None:
    """Write ``len(words) dim`` then one word and vector per entry, atomically, in the given order."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with atomic_open(path, "wb") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        if binary:
            for word, vec in zip(words, vectors):
                f.write(word.encode("utf-8") + b" " + vec.astype("<f4").tobytes() + b"\n")
        else:
            for word, vec in zip(words, vectors):
                f.write((word + " " + " ".join(f"{x:.6g}" for x in vec.tolist()) + "\n").encode("utf-8"))
