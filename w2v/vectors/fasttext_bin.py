"""The full fastText model in Facebook's ``.bin`` format, which ``gensim.models.fasttext.load_facebook_model``
(and fastText itself) loads, so ``model.wv["unseenword"]`` answers from the n-gram rows.

The layout is fastText's ``FastText::saveModel`` (gensim's ``_fasttext_bin`` reads and writes the
same): magic and version, the ``Args`` header, the dictionary (word, count, entry type), then the
input matrix (V word rows followed by the ``bucket`` n-gram rows) and the output matrix. The file is
written atomically. It is plain data, not a pickle, and :func:`read_fasttext_bin` reads it with w2v's
own code, checking every size against the file first, so loading is safe (and quick to fail) on any file.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from w2v.atomic import atomic_open
from w2v.errors import W2VError
from w2v.io import BinarySource, open_file, stored_size

if TYPE_CHECKING:  # the n-gram module imports torch: evaluate.py and similar.py load it only for a .bin
    from w2v.models.subwords import NgramComposer, SubwordSpec

MAGIC = 793712314  # fastText's FASTTEXT_FILEFORMAT_MAGIC_INT32
VERSION = 12
_LOSS_HS, _LOSS_NS = 1, 2
_MODEL_CBOW, _MODEL_SG = 1, 2
_COMPOSE_WORDS = 8192  # words composed per gather in compose_word_vectors


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


@dataclass
class FastTextBin:
    """What vectors need from a Facebook ``.bin``: the words, their counts, the n-gram settings and the input table."""

    words: list[str]
    counts: np.ndarray  # (V,) int64
    min_n: int
    max_n: int
    bucket: int
    input_table: np.ndarray  # (V + bucket, D) float32: the word rows, then the n-gram rows


def read_fasttext_bin(path: Path) -> FastTextBin:
    """Read a Facebook fastText ``.bin`` (plain, or .gz/.bz2/.xz) with w2v's own code, not gensim's.

    gensim's reader loops forever on a file cut inside its word list (it reads past the end one empty
    byte at a time) and allocates whatever a matrix header claims. Here every size is checked against
    the bytes the file still holds before it is read, and a file that ends early, holds more than its
    headers say, or whose sizes do not add up is one :class:`W2VError` line naming the file.
    """
    path = Path(path)
    with open_file(path, "rb", what="fastText model") as f:
        src = BinarySource(f, stored_size(path), "fastText .bin")
        magic, version = src.unpack("<2i", "the fastText header")
        if magic != MAGIC:
            raise W2VError(f"{path} does not start with fastText's magic number: it is not a fastText .bin model")
        if version > VERSION:
            raise W2VError(f"{path} is fastText format version {version}, newer than {VERSION}: save it with fastText 0.9 or gensim")
        args = src.unpack("<12id", "the fastText arguments")
        dim, bucket, min_n, max_n = args[0], args[8], args[9], args[10]
        if dim < 1 or bucket < 0:
            raise W2VError(f"{path}: the header says dim={dim} and bucket={bucket}: the file is damaged; save the model again")
        words, counts = _read_dictionary(src)
        table = _read_input_matrix(src, len(words), bucket, dim)
        _skip_output_matrix(src, dim)
    return FastTextBin(words, counts, min_n, max_n, bucket, table)


def _read_dictionary(src: BinarySource) -> tuple[list[str], np.ndarray]:
    """fastText's ``Dictionary::save``: sizes, then each word (null-terminated), its count and entry type."""
    size, nwords, nlabels, _ntokens, pruned = src.unpack("<3iqq", "the dictionary header")
    if nlabels != 0:
        raise W2VError(f"{src.path} is a supervised fastText model ({nlabels} labels): only word-vector models can be loaded")
    if nwords < 1 or size != nwords:
        raise W2VError(f"{src.path}: the dictionary header says {size} entries and {nwords} words: the file is damaged; save it again")
    src.need(10 * size, "the dictionary")  # an entry: the word, its 0, an int64 count, an int8 type: 10+ bytes
    words: list[str] = []
    counts: list[int] = []  # a list, not an array of the claimed size: a compressed file's size is unknown
    for i in range(size):
        raw = src.until(b"\0", f"word {i + 1} of {size}")
        count, _entry_type = src.unpack("<qb", f"the count of word {i + 1} of {size}")
        words.append(raw.decode("utf-8", "backslashreplace"))  # gensim's fallback for undecodable words
        counts.append(count)
    if pruned > 0:  # (word, row) pairs of a pruned (quantized) model: nothing vectors need
        src.skip(8 * pruned, "the pruned-word index")
    return words, np.asarray(counts, dtype=np.int64)


def _read_input_matrix(src: BinarySource, nwords: int, bucket: int, dim: int) -> np.ndarray:
    """The (nwords + bucket, dim) input table, after checking its header against the arguments and the file."""
    if src.take(1, "the input quantization flag") != b"\0":
        raise W2VError(f"{src.path} is a quantized fastText model (.ftz): w2v reads full models; export the .bin before quantizing")
    rows, cols = src.unpack("<2q", "the input matrix header")
    if rows != nwords + bucket or cols != dim:
        raise W2VError(
            f"{src.path}: the input matrix is {rows} x {cols} but the header announces {nwords} words + {bucket} buckets of {dim} dims: "
            "the file is damaged; save the model again"
        )
    data = src.take(4 * rows * cols, f"the input matrix ({rows} x {cols})")
    return np.frombuffer(data, dtype="<f4").reshape(rows, cols).astype(np.float32, copy=False)


def _skip_output_matrix(src: BinarySource, dim: int) -> None:
    """The output matrix (not needed for vectors) must be there whole, and nothing after it."""
    src.take(1, "the output quantization flag")
    rows, cols = src.unpack("<2q", "the output matrix header")
    if rows < 0 or cols != dim:
        raise W2VError(f"{src.path}: the output matrix is {rows} x {cols}, not N x {dim}: the file is damaged; save the model again")
    src.skip(4 * rows * cols, f"the output matrix ({rows} x {cols})")
    if not src.at_end():
        raise W2VError(f"{src.path}: bytes follow the output matrix at byte {src.offset}: the file is damaged or not one fastText model")


def compose_word_vectors(words: Sequence[str], input_table: np.ndarray, spec: SubwordSpec) -> np.ndarray:
    """(V, D) in-vocabulary vectors: each word's row and its n-gram rows averaged, in gensim's
    ``adjust_vectors`` order (the word row, then each n-gram row added in float32, then divided)."""
    from w2v.models.subwords import word_bags

    v = len(words)
    if spec.bucket == 0:  # no n-gram rows: the word rows are the vectors
        return np.array(input_table[:v], dtype=np.float32)
    bags = word_bags(words, spec)
    inputs, offsets = bags.inputs.numpy(), bags.offsets.numpy()
    out = np.empty((v, input_table.shape[1]), dtype=np.float32)
    for lo in range(0, v, _COMPOSE_WORDS):  # bounded gathers: a 2M-word model is not gathered at once
        hi = min(v, lo + _COMPOSE_WORDS)
        starts, sizes = offsets[lo:hi], np.diff(offsets[lo : hi + 1])
        acc = input_table[inputs[starts]]  # (n, D): each word's own row
        # Row k of every bag that has one, added in bag order: gensim's float32 sums exactly
        # (np.add.reduceat sums in another order and differs in the last bit).
        for k in range(1, int(sizes.max())):
            live = np.flatnonzero(sizes > k)
            acc[live] += input_table[inputs[starts[live] + k]]
        out[lo:hi] = acc / sizes.astype(np.float32)[:, None]
    return out


def load_fasttext_vectors(path: Path) -> tuple[list[str], np.ndarray, NgramComposer | None]:
    """(words, composed in-vocabulary vectors, OOV composer or None without n-gram buckets) of a Facebook ``.bin``."""
    ft = read_fasttext_bin(path)  # first: a damaged file fails before the n-gram module imports torch (a second)
    from w2v.models.subwords import NgramComposer, SubwordSpec

    spec = SubwordSpec(ft.min_n, ft.max_n, ft.bucket)
    oov = NgramComposer(ft.input_table[len(ft.words) :], spec) if ft.bucket > 0 else None
    return ft.words, compose_word_vectors(ft.words, ft.input_table, spec), oov
