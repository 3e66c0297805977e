"""The full fastText model in Facebook's ``.bin`` format, which ``gensim.models.fasttext.load_facebook_model``
(and fastText itself) loads, so ``model.wv["unseenword"]`` answers from the n-gram rows.

The layout is fastText's ``FastText::saveModel`` (gensim's ``_fasttext_bin`` reads and writes the
same): magic and version, the ``Args`` header, the dictionary (word, count, entry type), then the
input matrix (V word rows followed by the ``bucket`` n-gram rows) and the output matrix. The file is
written atomically. It is plain data, not a pickle, so :func:`load_fasttext_vectors` is safe on any file.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from w2v.atomic import atomic_open

if TYPE_CHECKING:  # the n-gram module imports torch: evaluate.py and similar.py load it only for a .bin
    from w2v.models.subwords import NgramComposer, SubwordSpec

MAGIC = 793712314  # fastText's FASTTEXT_FILEFORMAT_MAGIC_INT32
VERSION = 12
_LOSS_HS, _LOSS_NS = 1, 2
_MODEL_CBOW, _MODEL_SG = 1, 2


def is_fasttext_bin(head: bytes) -> bool:
    """True when a file starting with ``head`` is a Facebook fastText ``.bin``."""
    return len(head) >= 4 and struct.unpack("<i", head[:4])[0] == MAGIC


def save_fasttext_bin(
    path: Path,
    words: Sequence[str],
    counts: np.ndarray,
    input_table: np.ndarray,
    output_table: np.ndarray,
    spec: SubwordSpec,
    *,
    sg: bool,
    hs: bool,
    negatives: int,
    window: int,
    epochs: int,
    min_count: int,
    sample: float,
) -> None:
    """Write the model: ``input_table`` (V + bucket, D) and ``output_table`` (the negative-sampling
    output rows, (V, D), or the hierarchical-softmax inner nodes, (V-1, D), padded to V rows as fastText's)."""
    v, dim = len(words), input_table.shape[1]
    if input_table.shape[0] != v + spec.bucket:
        raise ValueError(f"input table has {input_table.shape[0]} rows, want {v} words + {spec.bucket} buckets")
    loss = _LOSS_NS if negatives > 0 else _LOSS_HS
    if len(output_table) < v:
        output_table = np.concatenate([output_table, np.zeros((v - len(output_table), dim), dtype=np.float32)])
    header = struct.pack(
        "<12id", dim, window, epochs, min_count, negatives, 1, loss, _MODEL_SG if sg else _MODEL_CBOW,
        spec.bucket, spec.min_n, spec.max_n, 100, sample,
    )  # fmt: skip  # word_ngrams=1 and lr_update_rate=100 are fastText's defaults; gensim ignores them
    with atomic_open(path, "wb") as f:
        f.write(struct.pack("<2i", MAGIC, VERSION))
        f.write(header)
        # Dictionary: size, nwords, nlabels, ntokens, pruneidx_size (-1: none), then each entry.
        f.write(struct.pack("<3iqq", v, v, 0, int(np.sum(counts)), -1))
        for word, count in zip(words, counts):
            f.write(word.encode("utf-8") + b"\0" + struct.pack("<qb", int(count), 0))
        f.write(b"\0")  # quant_input = false
        _write_matrix(f, input_table)
        f.write(b"\0")  # quant_output = false
        _write_matrix(f, output_table[:v])


def _write_matrix(f, matrix: np.ndarray) -> None:
    m = np.ascontiguousarray(matrix, dtype="<f4")
    f.write(struct.pack("<2q", *m.shape))
    for start in range(0, len(m), 65536):  # chunks: a 2M-row table is not copied whole into bytes
        f.write(m[start : start + 65536].tobytes())


def load_fasttext_vectors(path: Path) -> tuple[list[str], np.ndarray, NgramComposer]:
    """(words, composed in-vocabulary vectors, OOV composer) of a Facebook ``.bin``, read by gensim."""
    from gensim.models.fasttext import load_facebook_vectors

    from w2v.models.subwords import NgramComposer, SubwordSpec

    kv = load_facebook_vectors(str(path))
    spec = SubwordSpec(int(kv.min_n), int(kv.max_n), int(kv.bucket))
    return list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32), NgramComposer(kv.vectors_ngrams, spec)
