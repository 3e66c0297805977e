"""Static-embedding models for today's pipelines: a sentence-transformers model and a model2vec model.

Both are a tokenizer plus one row per token id; a sentence's embedding is the mean of its tokens'
rows. :mod:`w2v.exports.tokenizer` gives the tokenizer that makes that mean word2vec's mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def save_sentence_transformer(path: Path, tokenizer: Any, matrix: np.ndarray) -> None:
    """Write a ``SentenceTransformer`` model of one ``StaticEmbedding`` module (mean of token rows) into ``path``.

    ``matrix`` is (tokens, D) float32, row ``i`` for token id ``i``. ``SentenceTransformer(path)``
    loads it offline; ``encode`` returns the unnormalized mean, as word2vec's own sentence mean.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    module = StaticEmbedding(tokenizer, embedding_weights=np.ascontiguousarray(matrix, dtype=np.float32))
    SentenceTransformer(modules=[module], device="cpu").save(str(path))


def save_model2vec(path: Path, tokenizer: Any, matrix: np.ndarray) -> None:
    """Write a model2vec ``StaticModel`` (``model.safetensors``, ``tokenizer.json``, ``config.json``) into ``path``.

    ``normalize: false`` so ``encode`` gives the plain mean, and ``max_length: null`` so no sentence is
    cut at model2vec's default of 512 tokens.
    """
    from model2vec import StaticModel

    model = StaticModel(np.ascontiguousarray(matrix, dtype=np.float32), tokenizer, normalize=False, max_length=None)
    model.save_pretrained(str(path))
