"""Where the fastText ``.bin`` reader and writer used to live: :mod:`w2v.vectors.fasttext_bin` now (kept importable)."""

from w2v.vectors.fasttext_bin import (
    FastTextBin,
    compose_word_vectors,
    is_fasttext_bin,
    load_fasttext_vectors,
    read_fasttext_bin,
    save_fasttext_bin,
)

__all__ = ["FastTextBin", "compose_word_vectors", "is_fasttext_bin", "load_fasttext_vectors", "read_fasttext_bin", "save_fasttext_bin"]
