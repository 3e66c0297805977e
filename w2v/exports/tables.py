"""The trained tables as one safetensors file (``tables.safetensors``), and :func:`load_tables` to read it back.

safetensors holds tensors and a str -> str metadata map, and no code: any safetensors reader
(``safetensors.numpy.load_file``, ``safe_open(...).metadata()``) opens it without pickles.

Tensors (float32 unless noted):

- ``in``: (V, D) input vectors; with character n-grams (``subwords.enabled``) (V + bucket, D): the V
  word rows, then the n-gram bucket rows;
- ``out``: (V, D) negative sampling's output vectors (absent with ``negatives=0``);
- ``hs``: (V - 1, D) hierarchical softmax's inner-node vectors (absent without ``hs``); the Huffman
  tree comes back from the counts (:func:`w2v.models.huffman.build_huffman`);
- ``vectors``: (V, D) the word vectors the run exported, when they are not ``in``'s first V rows
  (``export=in+out`` or ``in+out_norm``; n-gram runs, whose word vector is the mean of its word and n-gram rows);
- ``counts``: (V,) int64 corpus counts, descending, row for row with ``words``.

Metadata (JSON strings): ``format`` (``w2v.tables``), ``format_version``, ``words`` (the vocabulary,
row order), ``model`` (``sg``, ``cbow_mean``, ``hs``, ``negatives``), ``dim``, ``export``,
``subwords`` (``min_n``, ``max_n``, ``bucket``, or null), ``vectors`` (the tensor holding the word vectors).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2v.atomic import atomic_path
from w2v.errors import W2VError

FORMAT = "w2v.tables"
VERSION = 1
# safetensors refuses a header (tensor index and metadata) above 100 MB; keep clear of it.
MAX_METADATA_BYTES = 90_000_000
_MODEL_KEYS = {"sg": bool, "cbow_mean": bool, "hs": bool, "negatives": int}


@dataclass
class SavedTables:
    """What :func:`load_tables` reads: the vocabulary, the tables and how the model was configured."""

    words: list[str]
    counts: np.ndarray  # (V,) int64
    in_w: np.ndarray  # (V, D), or (V + bucket, D) with n-grams
    out_w: np.ndarray | None  # (V, D) or None without negative sampling
    hs_w: np.ndarray | None  # (V - 1, D) or None without hierarchical softmax
    vectors: np.ndarray  # (V, D): the word vectors the run exported
    model: dict[str, Any]  # sg, cbow_mean, hs, negatives
    subwords: dict[str, int] | None  # min_n, max_n, bucket
    export: str  # in | in+out | in+out_norm


def save_tables(
    path: Path,
    words: list[str],
    counts: np.ndarray,
    tables: dict[str, np.ndarray],
    vectors: np.ndarray,
    model: dict[str, Any],
    subwords: dict[str, int] | None,
    export: str,
) -> None:
    """Write ``tables`` (``in``, and ``out``/``hs`` when non-empty) with the vocabulary to ``path``, atomically.

    ``vectors`` (V, D) is stored only when it differs from ``in``'s first V rows.
    """
    from safetensors.numpy import save_file

    tensors = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tables.items() if len(t)}
    n = len(words)
    separate = tensors["in"].shape[0] != n or not np.array_equal(tensors["in"][:n], vectors)
    if separate:
        tensors["vectors"] = np.ascontiguousarray(vectors, dtype=np.float32)
    tensors["counts"] = np.asarray(counts, dtype=np.int64)
    metadata = {
        "format": FORMAT,
        "format_version": str(VERSION),
        "words": json.dumps(list(words), ensure_ascii=False),
        "model": json.dumps({k: model[k] for k in _MODEL_KEYS}),
        "dim": str(int(vectors.shape[1])),
        "export": export,
        "subwords": json.dumps(subwords),
        "vectors": "vectors" if separate else "in",
    }
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise W2VError(
            f"the vocabulary of {n} words takes {size >> 20} MB in safetensors metadata, over the format's 100 MB header: "
            "lower max_vocab (or raise min_count), or leave safetensors out of export_formats"
        )
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _bad(path: Path, why: str) -> W2VError:
    return W2VError(f"{path} is not a w2v tables.safetensors file ({why}); write it again with export_formats=[...,safetensors]")


def _json(path: Path, meta: dict[str, str], key: str) -> Any:
    if key not in meta:
        raise _bad(path, f"no {key!r} in its metadata")
    try:
        return json.loads(meta[key])
    except (ValueError, RecursionError):
        raise _bad(path, f"metadata {key!r} is not JSON") from None


def _check_meta(path: Path, meta: dict[str, str]) -> tuple[list[str], dict[str, Any], dict[str, int] | None, int]:
    """The vocabulary, model, subwords and dim of the metadata, each checked for type."""
    if meta.get("format") != FORMAT:
        raise _bad(path, f"metadata format is {str(meta.get('format'))[:40]!r}, not {FORMAT!r}")
    if meta.get("format_version") != str(VERSION):
        raise _bad(path, f"format_version {str(meta.get('format_version'))[:20]!r}; this w2v reads {VERSION}")
    words = _json(path, meta, "words")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise _bad(path, "metadata 'words' is not a list of strings")
    model = _json(path, meta, "model")
    if not isinstance(model, dict) or any(type(model.get(k)) is not t for k, t in _MODEL_KEYS.items()):
        raise _bad(path, f"metadata 'model' lacks {', '.join(_MODEL_KEYS)} of their types")
    subwords = _json(path, meta, "subwords")
    ints = isinstance(subwords, dict) and all(type(subwords.get(k)) is int for k in ("min_n", "max_n", "bucket"))
    if subwords is not None and not ints:
        raise _bad(path, "metadata 'subwords' is neither null nor min_n, max_n and bucket integers")
    if meta.get("vectors") not in ("in", "vectors"):
        raise _bad(path, f"metadata vectors is {str(meta.get('vectors'))[:20]!r}, not 'in' or 'vectors'")
    dim = meta.get("dim", "")
    if not dim.isdigit() or int(dim) < 1:
        raise _bad(path, f"metadata dim {dim[:20]!r} is not a positive integer")
    return words, model, subwords, int(dim)


def _expected_shapes(n: int, dim: int, model: dict[str, Any], subwords: dict[str, int] | None, vectors: str) -> dict[str, tuple]:
    """tensor name -> the shape the metadata implies."""
    shapes: dict[str, tuple] = {"in": (n + (subwords["bucket"] if subwords else 0), dim), "counts": (n,)}
    if model["negatives"] > 0:
        shapes["out"] = (n, dim)
    if model["hs"]:
        shapes["hs"] = (n - 1, dim)
    if vectors == "vectors":
        shapes["vectors"] = (n, dim)
    return shapes


def load_tables(path: str | os.PathLike) -> SavedTables:
    """Read a ``tables.safetensors`` back, or raise a one-line :class:`W2VError` for a damaged file.

    The safetensors library checks the header against the file (sizes, offsets, within 100 MB)
    before anything is read; then every tensor's shape and dtype are checked against the metadata,
    so a file that parses but does not describe a w2v model is refused too.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            words, model, subwords, dim = _check_meta(path, meta)
            expected = _expected_shapes(len(words), dim, model, subwords, meta["vectors"])
            if set(f.keys()) != set(expected):
                raise _bad(path, f"tensors {sorted(f.keys())}, where its metadata implies {sorted(expected)}")
            for name, shape in expected.items():
                sl = f.get_slice(name)
                dtype = "I64" if name == "counts" else "F32"
                if tuple(sl.get_shape()) != shape or sl.get_dtype() != dtype:
                    raise _bad(path, f"tensor {name!r} is {sl.get_dtype()} {tuple(sl.get_shape())}, not {dtype} {shape}")
            arrays = {name: f.get_tensor(name) for name in expected}
    except SafetensorError as exc:
        raise _bad(path, (str(exc).splitlines() or ["unreadable"])[0]) from None
    except OSError as exc:
        raise W2VError(f"cannot read {path} ({exc.strerror or exc})") from None
    n = len(words)
    return SavedTables(
        words=words,
        counts=arrays["counts"],
        in_w=arrays["in"],
        out_w=arrays.get("out"),
        hs_w=arrays.get("hs"),
        vectors=arrays["vectors"] if "vectors" in arrays else arrays["in"][:n],
        model={k: model[k] for k in _MODEL_KEYS},
        subwords=subwords,
        export=meta.get("export", "in"),
    )
