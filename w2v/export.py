"""Where training's word2vec writer used to live: :func:`w2v.vectors.save_word2vec` now (kept importable)."""

from w2v.vectors.word2vec_format import save_word2vec

__all__ = ["save_word2vec"]
